"""The issuer profile: the operator's own legal name, tax id, address and bank, printed on every document."""

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from billing.services import issuer
from kashi.api.deps import ConnDep, Operator, Reader
from kashi.errors import NotFound

router = APIRouter(tags=["issuer"])


class IssuerProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")

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
    address: str = Field(min_length=1, max_length=500, examples=["北京市海淀区中关村大街 1 号"])
    phone: str = Field(min_length=1, max_length=100, examples=["+86 10 8888 0000"])
    email: str = Field(min_length=1, max_length=320, examples=["billing@kashi.example"])
    bank_name: str = Field(min_length=1, max_length=500, examples=["招商银行北京分行"])
    bank_account: str = Field(min_length=1, max_length=100, examples=["1109 0123 4567 890"])
    logo_png_base64: str | None = Field(None, description="Optional logo: a PNG image, base64-encoded.")


class StoredIssuerProfile(IssuerProfile):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(description="How many times the profile has been set.")
    updated_at: str = Field(description="When this version was set (RFC 3339).")


@router.put("/issuer", response_model=StoredIssuerProfile)
def put_issuer(conn: ConnDep, principal: Operator, body: IssuerProfile) -> dict:
    """Set the issuer profile (appended as an event: earlier versions stay readable in its stream).
    Documents issued from now on carry it; those already issued keep the profile they were issued with."""
    return issuer.put(conn, body.model_dump(), actor=f"key:{principal.key_id}")


@router.get("/issuer", response_model=StoredIssuerProfile)
def get_issuer(conn: ConnDep, principal: Reader) -> dict:
    """The issuer profile in force; 404 until one is set."""
    found = issuer.current(conn)
    if found is None:
        raise NotFound("the issuer profile is not set: PUT /v1/issuer", [{"field": "issuer", "reason": "not set"}])
    return found
