"""Which model documents which operation's body: ``(METHOD, path) → Doc``."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

from kashi.api.schemas import billing, contracts, events, tenants, usage


@dataclass(frozen=True)
class Doc:
    answer: type[BaseModel] | None = None
    """The success body (JSON), or None for a file or text answer described by ``media``."""
    request: type[BaseModel] | None = None
    media: dict[str, str] = field(default_factory=dict)
    """Other media types the success answer may have: type → description."""
    also: dict[str, tuple[type[BaseModel], str]] = field(default_factory=dict)
    """Further success statuses: status → (model, description)."""


PDF = {"application/pdf": "The document as PDF (Chinese names embedded)."}
OPERATIONS: dict[tuple[str, str], Doc] = {
    ("GET", "/healthz"): Doc(usage.Health),
    ("GET", "/metrics"): Doc(None, media={"text/plain": "Prometheus text exposition."}),
    ("POST", "/v1/events"): Doc(events.Accepted, events.CloudEvent),
    ("GET", "/v1/ingest/batches/{batch_id}"): Doc(events.BatchReceipt),
    ("GET", "/v1/ingest/parked"): Doc(events.ParkedBatches),
    ("GET", "/v1/usage"): Doc(usage.Usage),
    ("GET", "/v1/usage/conflicts"): Doc(usage.Conflicts),
    ("GET", "/v1/usage/late"): Doc(usage.LateUsage),
    ("GET", "/v1/usage/unrated"): Doc(usage.Unrated),
    ("POST", "/v1/tenants"): Doc(tenants.Tenant, tenants.TenantCreate),
    ("GET", "/v1/tenants/{tenant_id}"): Doc(tenants.Tenant),
    ("GET", "/v1/tenants/{tenant_id}/balance"): Doc(tenants.Balance),
    ("GET", "/v1/tenants/{tenant_id}/statements/{period}"): Doc(
        billing.Statement,
        media={
            "text/csv": "format=csv: UTF-8 with BOM.",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "format=xlsx.",
            **PDF,
        },
    ),
    ("POST", "/v1/contracts"): Doc(contracts.Contract, contracts.ContractCreate),
    ("GET", "/v1/contracts"): Doc(contracts.Contracts),
    ("GET", "/v1/contracts/{contract_id}"): Doc(contracts.Contract),
    ("GET", "/v1/contracts/{contract_id}/events"): Doc(contracts.ContractEvents),
    ("POST", "/v1/contracts/{contract_id}/amendments"): Doc(contracts.Amendment, contracts.AmendmentCreate),
    ("GET", "/v1/contracts/{contract_id}/termination-quote"): Doc(contracts.TerminationQuote),
    ("POST", "/v1/contracts/{contract_id}/termination"): Doc(contracts.Termination, contracts.TerminationCreate),
    ("POST", "/v1/gpu-models"): Doc(tenants.GpuModel, tenants.GpuModelCreate),
    ("GET", "/v1/gpu-models"): Doc(tenants.GpuModels),
    ("POST", "/v1/periods/{period}/close"): Doc(billing.Closed),
    ("GET", "/v1/periods/pending"): Doc(billing.PendingPeriods),
    ("GET", "/v1/invoices"): Doc(billing.Invoices),
    ("GET", "/v1/invoices/{invoice_id}"): Doc(billing.Invoice, media=PDF),
    ("GET", "/v1/invoices/{invoice_id}.pdf"): Doc(None, media=PDF),
    ("GET", "/v1/invoices/{invoice_id}/credit-notes"): Doc(billing.CreditNotes),
    ("POST", "/v1/invoices/{invoice_id}/credit-notes"): Doc(billing.CreditNote, billing.CreditNoteCreate),
    ("POST", "/v1/payments"): Doc(
        billing.Payment,
        billing.PaymentCreate,
        also={"200": (billing.Payment, "A resend (same tenant and reference): the first.")},
    ),
    ("GET", "/v1/payments"): Doc(billing.Payments),
    ("GET", "/v1/exports/invoice-lines"): Doc(
        None,
        media={
            "text/csv": "format=csv: every invoice line of the month, all tenants, UTF-8 with BOM.",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "format=xlsx.",
        },
    ),
}
