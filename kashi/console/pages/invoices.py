"""Invoices: a filtered list read with the API's cursors; an invoice with its lines, credit notes and
PDF; issuing a credit note and recording a payment through forms (finance and operator)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from billing.services import invoices as invoice_store
from billing.services import payments, tenants
from kashi.api.deps import ConnDep, ensure_tenant_visible
from kashi.api.routes.invoices import _pdf
from kashi.console.format import grouped, pager
from kashi.console.web import AnyViewer, ConsoleRoute, Staff, Viewer, render
from kashi.errors import KashiError

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
PAGE = 25
DOCUMENT_NUMBER = re.compile(r"^(K[A-Z]-\d{4}-\d{6}|pay_[0-9a-f]{20})$")
"""What a notice after a form may name: a document number or a payment id (nothing else is echoed)."""
DONE = {"credit-note": "Credit note {number} issued.", "payment": "Payment {number} recorded."}


def _error(exc: KashiError) -> dict:
    return {"code": exc.code, "message": exc.message, "details": exc.details}


@router.get("/console/invoices")
def invoice_list(
    request: Request,
    viewer: AnyViewer,
    conn: ConnDep,
    tenant_id: str = "",
    period: str = "",
    status: str = "",
    cursor: str = "",
    trail: str = "",
):
    scope = viewer.tenant_scope or tenant_id or None
    if scope:
        ensure_tenant_visible(viewer.principal, scope)
    rows = invoice_store.list_invoices(
        conn, tenant_id=scope, period=period or None, after=cursor or None, limit=PAGE, status=status or None
    )
    next_cursor = rows[-1]["number"] if len(rows) == PAGE else None
    names = {t: tenants.get(conn, t)["name"] for t in {row["tenant_id"] for row in rows}}
    links = pager(
        "/console/invoices",
        {"tenant_id": tenant_id, "period": period, "status": status},
        cursor=cursor,
        next_cursor=next_cursor,
        trail=trail,
    )
    tenant = tenants.get(conn, scope) if scope else None
    return render(
        request,
        "invoices.html",
        viewer=viewer,
        title="Invoices",
        invoices=rows,
        names=names,
        pager=links,
        tenant_id=tenant_id,
        period=period,
        status=status,
        statuses=invoice_store.INVOICE_STATUSES,
        tenant=tenant,
        tz=tenant["timezone"] if tenant else request.app.state.settings.default_timezone,
        payment_form=_payment_defaults(tenant) if tenant and viewer.role != "tenant" else None,
    )


def _payment_defaults(tenant: dict, invoice: dict | None = None, remaining: str | None = None) -> dict:
    now = datetime.now(UTC).astimezone(ZoneInfo(tenant["timezone"])).replace(microsecond=0)
    return {
        "tenant_id": tenant["id"],
        "currency": invoice["currency"] if invoice else tenant["currency"],
        "amount": grouped(remaining) if remaining else "",
        "received_at": now.isoformat(),
        "reference": "",
        "invoice_id": invoice["id"] if invoice else "",
    }


def _invoice_page(
    request: Request,
    viewer: Viewer,
    conn,
    invoice_id: str,
    *,
    status_code: int = 200,
    credit_error: dict | None = None,
    payment_error: dict | None = None,
    credit_form: dict | None = None,
    payment_form: dict | None = None,
    done: str = "",
    number: str = "",
) -> Response:
    invoice = invoice_store.invoice_json(conn, invoice_id, tenant_id=viewer.tenant_scope)
    tenant = tenants.get(conn, invoice["tenant_id"])
    notes = invoice_store.credit_notes(conn, invoice_id, tenant_id=viewer.tenant_scope)
    notice = DONE[done].format(number=number) if done in DONE and DOCUMENT_NUMBER.match(number or "") else None
    return render(
        request,
        "invoice.html",
        viewer=viewer,
        title=f"Invoice {invoice['number']}",
        invoice=invoice,
        tenant=tenant,
        tz=tenant["timezone"],
        notes=notes,
        notice=notice,
        status_code=status_code,
        credit_error=credit_error,
        payment_error=payment_error,
        credit_form=credit_form or {"amount": "", "reason": ""},
        payment_form=payment_form or _payment_defaults(tenant, invoice, invoice.get("amount_due", notes["remaining"])),
        balances=payments.balances(conn, tenant["id"]) if viewer.role != "tenant" else [],
    )


@router.get("/console/invoices/{invoice_id}.pdf")
def invoice_pdf(invoice_id: str, viewer: AnyViewer, conn: ConnDep) -> Response:
    """The same PDF as ``GET /v1/invoices/{id}.pdf`` (rendered by the same code)."""
    return _pdf(conn, invoice_id, viewer.principal)


@router.get("/console/invoices/{invoice_id}")
def invoice_page(request: Request, invoice_id: str, viewer: AnyViewer, conn: ConnDep, done: str = "", number: str = ""):
    return _invoice_page(request, viewer, conn, invoice_id, done=done, number=number)


@router.post("/console/invoices/{invoice_id}/credit-notes")
def issue_credit_note(
    request: Request,
    invoice_id: str,
    viewer: Staff,
    conn: ConnDep,
    amount: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
):
    form = {"amount": amount.strip().replace(",", ""), "reason": reason}
    try:
        with conn.begin_nested():  # a refused note leaves nothing behind, and the page still reads
            note = invoice_store.issue_credit_note(conn, invoice_id, form)
    except KashiError as exc:
        if exc.code == "not_found":
            raise
        return _invoice_page(
            request,
            viewer,
            conn,
            invoice_id,
            status_code=422,
            credit_error=_error(exc),
            credit_form={"amount": amount, "reason": reason},
        )
    return RedirectResponse(f"/console/invoices/{invoice_id}?done=credit-note&number={note['number']}", status_code=303)


@router.post("/console/payments")
def record_payment(
    request: Request,
    viewer: Staff,
    conn: ConnDep,
    tenant_id: Annotated[str, Form()] = "",
    amount: Annotated[str, Form()] = "",
    currency: Annotated[str, Form()] = "",
    received_at: Annotated[str, Form()] = "",
    reference: Annotated[str, Form()] = "",
    invoice_id: Annotated[str, Form()] = "",
):
    form = {
        "tenant_id": tenant_id,
        "amount": amount.strip().replace(",", ""),
        "currency": currency.strip().upper(),
        "received_at": received_at.strip(),
        "reference": reference,
    }
    if invoice_id:
        form["invoice_id"] = invoice_id
    try:
        with conn.begin_nested():
            payment, _ = payments.record_payment(conn, form)
    except KashiError as exc:
        raw = {
            "tenant_id": tenant_id,
            "amount": amount,
            "currency": currency,
            "received_at": received_at,
            "reference": reference,
            "invoice_id": invoice_id,
        }
        if invoice_id:
            return _invoice_page(
                request, viewer, conn, invoice_id, status_code=422, payment_error=_error(exc), payment_form=raw
            )
        return _invoices_with_payment_error(request, viewer, conn, raw, _error(exc))
    if invoice_id:
        return RedirectResponse(f"/console/invoices/{invoice_id}?done=payment&number={payment['id']}", status_code=303)
    return RedirectResponse(f"/console/invoices?tenant_id={tenant_id}&done=payment", status_code=303)


def _invoices_with_payment_error(request: Request, viewer: Viewer, conn, raw: dict, error: dict) -> Response:
    tenant = None
    try:
        tenant = tenants.get(conn, raw["tenant_id"])
    except KashiError:
        pass
    return render(
        request,
        "invoices.html",
        viewer=viewer,
        title="Invoices",
        invoices=[],
        names={},
        pager=None,
        tenant_id=raw["tenant_id"],
        period="",
        status="",
        statuses=invoice_store.INVOICE_STATUSES,
        tenant=tenant,
        tz=tenant["timezone"] if tenant else request.app.state.settings.default_timezone,
        payment_form=raw,
        payment_error=error,
        status_code=422,
    )
