"""The parties printed on documents: the issuer (the operator) and the tenant billed."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from kashi.api.schemas.common import Answer, Body


class IssuerProfile(Body):
    """The operator's own profile, printed on every document issued from now on."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "legal_name": "北京卡时智算科技有限公司",
                    "tax_id": "91110108MA01ABCD3X",
                    "address": "北京市海淀区中关村大街 1 号",
                    "phone": "+86 10 8888 0000",
                    "email": "billing@kashi.example",
                    "bank_name": "招商银行北京分行",
                    "bank_account": "1109 0123 4567 890",
                }
            ]
        },
    )

    legal_name: str = Field(
        min_length=1,
        max_length=500,
        description="The operator's registered legal name.",
        examples=["北京卡时智算科技有限公司"],
    )
    tax_id: str = Field(
        min_length=1,
        max_length=64,
        description="Tax registration number, e.g. an 18-character unified social credit code (统一社会信用代码).",
        examples=["91110108MA01ABCD3X"],
    )
    address: str = Field(
        min_length=1, max_length=500, description="Registered address.", examples=["北京市海淀区中关村大街 1 号"]
    )
    phone: str = Field(min_length=1, max_length=100, description="Phone number.", examples=["+86 10 8888 0000"])
    email: str = Field(
        min_length=1, max_length=320, description="Billing contact e-mail.", examples=["billing@kashi.example"]
    )
    bank_name: str = Field(
        min_length=1, max_length=500, description="Bank payments go to.", examples=["招商银行北京分行"]
    )
    bank_account: str = Field(
        min_length=1, max_length=100, description="Account payments go to.", examples=["1109 0123 4567 890"]
    )
    logo_png_base64: str | None = Field(
        None, description="Optional logo: a PNG image, base64-encoded.", examples=[None]
    )


class Issuer(Answer):
    """The issuer profile as printed on a document."""

    legal_name: str = Field(description="The operator's registered legal name.", examples=["北京卡时智算科技有限公司"])
    tax_id: str = Field(description="Tax registration number.", examples=["91110108MA01ABCD3X"])
    address: str = Field(description="Registered address.", examples=["北京市海淀区中关村大街 1 号"])
    phone: str = Field(description="Phone number.", examples=["+86 10 8888 0000"])
    email: str = Field(description="Billing contact e-mail.", examples=["billing@kashi.example"])
    bank_name: str = Field(description="Bank payments go to.", examples=["招商银行北京分行"])
    bank_account: str = Field(description="Account payments go to.", examples=["1109 0123 4567 890"])
    logo_png_base64: str | None = Field(description="The logo, a base64 PNG, if set.", examples=[None])


class StoredIssuer(Issuer):
    """The issuer profile in force."""

    version: int = Field(description="How many times the profile has been set.", examples=[1])
    updated_at: str = Field(description="When this version was set (UTC).", examples=["2026-12-01T08:00:00Z"])


class BillTo(Answer):
    """The tenant as a document's bill-to party."""

    id: str = Field(description="The tenant's id.", examples=["acme"])
    name: str = Field(description="Display name.", examples=["Acme 算力"])
    legal_name: str | None = Field(description="Registered legal name.", examples=["上海算力科技有限公司"])
    tax_id: str | None = Field(description="Tax registration number.", examples=["91310000MA1FL4XN2K"])
    address: str | None = Field(description="Billing address.", examples=["上海市浦东新区张江路 88 号"])
    billing_email: str | None = Field(description="Where invoices are sent.", examples=["ap@example.cn"])
