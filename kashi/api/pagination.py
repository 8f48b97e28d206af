"""Cursor pagination: ``{"items": [...], "next_cursor": ...}`` (SPEC §10)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal


def _jsonable(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def page(rows: list[dict], limit: int, *, key: str) -> dict:
    """A page of rows ordered by ``key``; the cursor is the last key when the page is full."""
    items = [{k: _jsonable(v) for k, v in row.items()} for row in rows]
    return {"items": items, "next_cursor": items[-1][key] if len(items) == limit else None}
