"""The console's pages, one entry each: adding a page is one template, one module in
``kashi.console.pages`` exposing ``router``, and one entry here. A resource that is not built has
no page module, so it has no entry and nothing in the navigation points at it."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter

from kashi.console.pages import (
    contracts,
    fleet,
    invoices,
    keys,
    overview,
    receivables,
    risk,
    signin,
    statements,
    suppliers,
    tenants,
    usage,
)

STAFF = ("operator", "finance")
READERS = ("operator", "finance", "tenant")


@dataclass(frozen=True)
class Page:
    label: str | None
    """The navigation label; None for pages reached from others (sign-in, a contract)."""
    path: str
    roles: tuple[str, ...]
    """Roles that see it in the navigation (each route checks its own access too)."""
    router: APIRouter


PAGES = (
    Page(None, "/console/login", READERS, signin.router),
    Page("Overview", "/console", READERS, overview.router),
    Page("Tenants", "/console/tenants", STAFF, tenants.router),
    Page(None, "/console/contracts", STAFF, contracts.router),
    Page("Invoices", "/console/invoices", READERS, invoices.router),
    Page("Receivables", "/console/receivables", STAFF, receivables.router),
    Page("Statements", "/console/statements", ("tenant",), statements.router),
    Page("Usage", "/console/usage", READERS, usage.router),
    Page("Fleet", "/console/fleet", STAFF, fleet.router),
    Page("Breach risk", "/console/breach-risk", STAFF, risk.router),
    Page("Suppliers", "/console/suppliers", STAFF, suppliers.router),
    Page("Keys", "/console/keys", ("operator",), keys.router),
)


def menu(role: str) -> list[tuple[str, str]]:
    """(label, path) of the navigation a ``role`` sees, in order."""
    return [(page.label, page.path) for page in PAGES if page.label and role in page.roles]
