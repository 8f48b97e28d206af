"""Month close, and the months that wait for an operator."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kashi.api.schemas.common import Answer, Single


class Closed(Answer):
    invoices: list[str] = Field(
        description="Ids of the invoices the close issued; the same ids when repeated.",
        examples=[["inv_e5518af54ddd40ecb248"]],
    )
    supplier_bills: list[str] | None = Field(
        None,
        description="Without tenant_id: ids of the supplier bills the close issued (every supplier's month).",
        examples=[["sb_3f9c0d1e2a4b5c6d7e8f"]],
    )


class PendingPeriod(Answer):
    tenant_id: str = Field(description="The tenant.", examples=["acme"])
    period: str = Field(description="The ended month, YYYY-MM.", examples=["2026-11"])
    reason: Literal["backdated", "older"] = Field(
        description="backdated: a contract in force was recorded after the period was due; older: not the "
        "tenant's most recent ended period (the scheduler closes only that one)."
    )
    why: str = Field(
        description="The same, in words, with the contracts and instants.",
        examples=["contract(s) c-acme-1 (recorded 2026-12-02T00:26:10Z) recorded after the period was due"],
    )
    contract_ids: list[str] = Field(description="The backdated contracts.", examples=[["c-acme-1"]])
    due_at: str = Field(
        description="Period end + grace: when the scheduler would have closed it (UTC).",
        examples=["2026-12-01T16:00:00Z"],
    )


class PendingPeriods(Single):
    items: list[PendingPeriod] = Field(description="By tenant and period.")
