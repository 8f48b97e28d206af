"""Invoices and credit notes: list, read as JSON or PDF, correct with a credit note."""

from typing import Annotated

from fastapi import APIRouter, Body, Header, Query
from fastapi.responses import Response

from billing.services import invoices as invoice_store
from billing.services import parties, tenants
from kashi.api.deps import ConnDep, Reader, listing_scope, require
from kashi.api.pagination import page
from kashi.api.schemas.invoices import FapiaoCreate
from kashi.errors import ValidationFailed
from kashi.keys import Principal

router = APIRouter(tags=["invoices"])
Issuer = Annotated[Principal, require("operator", "finance")]


def _scope(principal: Principal) -> str | None:
    """The tenant a caller is confined to: its own for a tenant key, none for operator and finance."""
    return principal.tenant_id if principal.role == "tenant" else None


@router.get("/invoices")
def list_invoices(
    conn: ConnDep,
    principal: Reader,
    tenant_id: str | None = None,
    period: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    status: Annotated[
        str | None,
        Query(
            description="Only invoices of this status (open, partially_paid, paid, credited, overdue); "
            "the cursor of a filtered page continues the same filter.",
            examples=["overdue"],
        ),
    ] = None,
) -> dict:
    """Invoices by tenant and period, newest number last. An empty parameter (`?tenant_id=&period=&status=`) is
    an absent one; a tenant key lists its own."""
    tenant_id = listing_scope(principal, tenant_id or None)
    rows = invoice_store.list_invoices(
        conn, tenant_id=tenant_id, period=period or None, after=cursor or None, limit=limit, status=status or None
    )
    return page(rows, limit, key="number")


def _pdf(conn, invoice_id: str, principal: Principal) -> Response:
    from billing.documents.pdf import render_invoice

    invoice = invoice_store.invoice_json(conn, invoice_id, tenant_id=_scope(principal))
    tenant = tenants.get(conn, invoice["tenant_id"])
    body = render_invoice(invoice, parties=parties.of_invoice(conn, invoice), timezone=tenant["timezone"])
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{invoice["number"]}.pdf"'},
    )


@router.post("/invoices/{invoice_id}/fapiao", status_code=201)
def record_fapiao(invoice_id: str, conn: ConnDep, principal: Issuer, body: FapiaoCreate) -> dict:
    """Record a fapiao issued for the invoice (an event); answers the invoice, whose `fapiao` lists it.
    The same number again changes nothing; a number recorded for another invoice is 409."""
    return invoice_store.record_fapiao(
        conn, invoice_id, body.number, body.issued_on, body.kind, actor=f"key:{principal.key_id}"
    )


@router.get("/invoices/by-number/{number}")
def invoice_by_number(number: str, conn: ConnDep, principal: Reader) -> dict:
    """The invoice with this number (e.g. KS-2026-000123)."""
    return invoice_store.by_number(conn, number, tenant_id=_scope(principal))


@router.get("/invoices/{invoice_id}.pdf", response_class=Response)
def invoice_pdf(invoice_id: str, conn: ConnDep, principal: Reader) -> Response:
    """The same as `?format=pdf`."""
    return _pdf(conn, invoice_id, principal)


@router.get("/invoices/{invoice_id}")
def get_invoice(
    invoice_id: str, conn: ConnDep, principal: Reader, format: str | None = None, accept: Annotated[str, Header()] = ""
):
    """The invoice JSON, or its PDF for `?format=pdf` or `Accept: application/pdf` (the query wins)."""
    format = format or _preferred(accept)
    if format == "pdf":
        return _pdf(conn, invoice_id, principal)
    if format != "json":
        raise ValidationFailed.of("format", "must be json or pdf")
    return invoice_store.invoice_json(conn, invoice_id, tenant_id=_scope(principal))


def _preferred(accept: str) -> str:
    """The format an Accept header prefers: pdf when it names application/pdf with a higher quality than
    application/json (or without it), json otherwise — wildcards and a tie keep JSON, the API's default."""
    quality = {"application/json": 0.0, "application/pdf": 0.0}
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        if media.lower() in quality:
            q = next((p.split("=", 1)[1] for p in params if p.replace(" ", "").startswith("q=")), "1")
            try:
                quality[media.lower()] = max(quality[media.lower()], float(q))
            except ValueError:
                continue
    return "pdf" if quality["application/pdf"] > quality["application/json"] else "json"


@router.get("/invoices/{invoice_id}/credit-notes")
def credit_notes(invoice_id: str, conn: ConnDep, principal: Reader) -> dict:
    """The credit notes issued against an invoice and what remains of its total."""
    return invoice_store.credit_notes(conn, invoice_id, tenant_id=_scope(principal))


@router.post("/invoices/{invoice_id}/credit-notes", status_code=201)
def credit_note(invoice_id: str, conn: ConnDep, principal: Issuer, payload: dict = Body(...)) -> dict:
    """Operators and finance. Never more than what remains of the invoice (422 credit_exceeds_remaining);
    numbered gaplessly per currency. The invoice itself never changes."""
    return invoice_store.issue_credit_note(conn, invoice_id, payload)
