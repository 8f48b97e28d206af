"""The reference of every operation: ``(METHOD, path) → Doc`` (its summary and body models).

This table is the one way Kashi documents its API: a route module holds only the route (its docstring is
the operation's description); :mod:`kashi.api.openapi` applies the table to the generated schema.
Routes take raw JSON where their service validates it, so one 422 names every bad field; the request
model here describes that body. A test fails for a served operation missing from the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

from kashi.api.schemas import (
    catalog,
    contracts,
    events,
    fleet,
    invoices,
    market,
    parties,
    payments,
    periods,
    reports,
    statements,
    suppliers,
    tenants,
    usage,
    webhooks,
)


@dataclass(frozen=True)
class Doc:
    summary: str
    """A few words, shown in the operation list of /docs."""
    answer: type[BaseModel] | None = None
    """The success body (JSON), or None for a file or text answer described by ``media``."""
    request: type[BaseModel] | None = None
    media: dict[str, str] = field(default_factory=dict)
    """Other media types the success answer may have: type → description."""
    also: dict[str, tuple[type[BaseModel], str]] = field(default_factory=dict)
    """Further success statuses: status → (model, description)."""


PDF = {"application/pdf": "The document as PDF (Chinese names embedded)."}
CSV = {"text/csv": "format=csv: UTF-8 with BOM (opens in Excel in a Chinese locale)."}
XLSX = {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "format=xlsx."}
OPERATIONS: dict[tuple[str, str], Doc] = {
    ("GET", "/healthz"): Doc("Is Kashi ready?", usage.Health),
    ("GET", "/metrics"): Doc("Prometheus metrics", media={"text/plain": "Prometheus text exposition."}),
    # events and ingest
    ("POST", "/v1/events"): Doc("Send usage events", events.Accepted, events.CloudEvent),
    ("GET", "/v1/ingest/batches/{batch_id}"): Doc("The receipt of a batch", events.BatchReceipt),
    ("GET", "/v1/ingest/parked"): Doc("Parked batches", events.ParkedBatches),
    ("POST", "/v1/ingest/parked/{batch_id}/requeue"): Doc("Requeue a parked batch", events.Requeued),
    # usage
    ("GET", "/v1/usage"): Doc("Usage per hour, day or month", usage.Usage),
    ("GET", "/v1/usage/conflicts"): Doc("GPU time two tenants reported", usage.Conflicts),
    ("GET", "/v1/usage/late"): Doc("Late usage waiting for the next invoice", usage.LateUsage),
    ("GET", "/v1/usage/unrated"): Doc("Unrated usage", usage.Unrated),
    # tenants
    ("POST", "/v1/tenants"): Doc("Create a tenant", tenants.Tenant, tenants.TenantCreate),
    ("GET", "/v1/tenants"): Doc("List and search tenants", tenants.TenantPage),
    ("GET", "/v1/tenants/{tenant_id}"): Doc("Read a tenant", tenants.Tenant),
    ("PATCH", "/v1/tenants/{tenant_id}"): Doc(
        "Change a tenant's name or billing profile", tenants.Tenant, tenants.TenantPatch
    ),
    ("GET", "/v1/tenants/{tenant_id}/balance"): Doc("A tenant's balance", tenants.Balance),
    ("GET", "/v1/tenants/{tenant_id}/statements/{period}"): Doc(
        "A statement of account", statements.Statement, media={**CSV, **XLSX, **PDF}
    ),
    ("GET", "/v1/tenants/{tenant_id}/invoice-preview"): Doc("Preview the next invoice", invoices.InvoicePreview),
    # contracts
    ("POST", "/v1/contracts"): Doc("Sign a contract", contracts.Contract, contracts.ContractCreate),
    ("GET", "/v1/contracts"): Doc("List contracts", contracts.Contracts),
    ("GET", "/v1/contracts/{contract_id}"): Doc("Read a contract", contracts.Contract),
    ("GET", "/v1/contracts/{contract_id}/events"): Doc("The contract's event stream", contracts.ContractEvents),
    ("POST", "/v1/contracts/{contract_id}/amendments"): Doc(
        "Amend an item", contracts.Amendment, contracts.AmendmentCreate
    ),
    ("GET", "/v1/contracts/{contract_id}/termination-quote"): Doc("Quote a termination", contracts.TerminationQuote),
    ("POST", "/v1/contracts/{contract_id}/termination"): Doc(
        "Terminate a contract", contracts.Termination, contracts.TerminationCreate
    ),
    # catalog
    ("POST", "/v1/gpu-models"): Doc(
        "Add a GPU model, or set its list price",
        catalog.GpuModel,
        catalog.GpuModelCreate,
        also={"200": (catalog.GpuModel, "A known model named with its list price: the model with it.")},
    ),
    ("GET", "/v1/gpu-models"): Doc("List GPU models", catalog.GpuModels),
    # periods
    ("POST", "/v1/periods/{period}/close"): Doc("Close a month", periods.Closed),
    ("GET", "/v1/periods/pending"): Doc("Months waiting for an operator's close", periods.PendingPeriods),
    # invoices
    ("GET", "/v1/invoices"): Doc("List invoices", invoices.Invoices),
    ("GET", "/v1/invoices/{invoice_id}"): Doc("Read an invoice", invoices.Invoice, media=PDF),
    ("GET", "/v1/invoices/{invoice_id}.pdf"): Doc("An invoice as PDF", media=PDF),
    ("GET", "/v1/invoices/by-number/{number}"): Doc("Find an invoice by its number", invoices.Invoice),
    ("POST", "/v1/invoices/{invoice_id}/fapiao"): Doc("Record a fapiao", invoices.Invoice, invoices.FapiaoCreate),
    ("GET", "/v1/invoices/{invoice_id}/credit-notes"): Doc("An invoice's credit notes", invoices.CreditNotes),
    ("POST", "/v1/invoices/{invoice_id}/credit-notes"): Doc(
        "Issue a credit note", invoices.CreditNote, invoices.CreditNoteCreate
    ),
    # payments
    ("POST", "/v1/payments"): Doc(
        "Record a payment",
        payments.PaymentDetail,
        payments.PaymentCreate,
        also={"200": (payments.PaymentDetail, "A resend (same tenant and reference): the first.")},
    ),
    ("GET", "/v1/payments"): Doc("List payments", payments.Payments),
    ("GET", "/v1/payments/{payment_id}"): Doc("Read a payment and its allocations", payments.PaymentDetail),
    # exports and reports
    ("GET", "/v1/exports/invoice-lines"): Doc("Export invoice lines", media={**CSV, **XLSX}),
    ("GET", "/v1/exports/supplier-bill-lines"): Doc("Export supplier-bill lines", media={**CSV, **XLSX}),
    ("GET", "/v1/reports/receivables"): Doc("Aged receivables", reports.Receivables, media={**CSV, **XLSX}),
    ("GET", "/v1/reports/breach-risk"): Doc("Contracts at risk of breach", reports.BreachRisk, media={**CSV, **XLSX}),
    ("GET", "/v1/reports/margin"): Doc("The broker's margin", reports.Margin, media={**CSV, **XLSX}),
    ("GET", "/v1/reports/utilization"): Doc(
        "Fleet utilisation", reports.Utilization, media={**CSV, **XLSX, "image/png": "format=png: a chart."}
    ),
    # issuer
    ("PUT", "/v1/issuer"): Doc("Set the issuer profile", parties.StoredIssuer, parties.IssuerProfile),
    ("GET", "/v1/issuer"): Doc("Read the issuer profile", parties.StoredIssuer),
    # market
    ("POST", "/v1/market/rents"): Doc("Record a market rent", market.RecordedMarketRent, market.MarketRentCreate),
    ("GET", "/v1/market/rents"): Doc("List market rents", market.MarketRents),
    # suppliers
    ("POST", "/v1/suppliers"): Doc("Create a supplier", suppliers.Supplier, suppliers.SupplierCreate),
    ("GET", "/v1/suppliers"): Doc("List suppliers", suppliers.Suppliers),
    ("GET", "/v1/suppliers/{supplier_id}"): Doc("Read a supplier", suppliers.Supplier),
    ("GET", "/v1/suppliers/{supplier_id}/statements/{period}"): Doc(
        "A supplier's statement", suppliers.SupplierStatement, media={**CSV, **XLSX}
    ),
    ("GET", "/v1/supplier-bills"): Doc("List supplier bills", suppliers.SupplierBills),
    ("GET", "/v1/supplier-bills/{bill_id}"): Doc("Read a supplier bill", suppliers.SupplierBill),
    # webhooks
    ("POST", "/v1/webhooks"): Doc("Register a webhook endpoint", webhooks.WebhookCreated, webhooks.WebhookCreate),
    ("GET", "/v1/webhooks"): Doc("List webhook endpoints", webhooks.Webhooks),
    ("GET", "/v1/webhooks/{webhook_id}"): Doc("Read a webhook endpoint", webhooks.Webhook),
    ("DELETE", "/v1/webhooks/{webhook_id}"): Doc("Delete a webhook endpoint"),
    ("GET", "/v1/webhooks/{webhook_id}/deliveries"): Doc("An endpoint's delivery log", webhooks.Deliveries),
    # fleet
    ("GET", "/v1/fleet/gpus"): Doc("List the fleet's GPUs", fleet.FleetPage),
    ("GET", "/v1/fleet/gpus/{gpu}"): Doc("Read a GPU of the fleet", fleet.FleetGpu),
    ("POST", "/v1/fleet/gpus/{gpu}/retire"): Doc("Retire a GPU", fleet.FleetGpu, fleet.Retirement),
}
