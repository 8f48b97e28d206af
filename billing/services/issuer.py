"""Service: the operator's own profile, the issuer named on every document.

The profile is the last `IssuerProfileSet` event of the `issuer` stream: each `PUT /v1/issuer`
appends the whole profile, so its history is readable and nothing is ever overwritten. Until one
is set `current` answers None and documents say plainly that the issuer profile is missing.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from sqlalchemy import Connection

from billing.core.periods import instant_to_json
from kashi import streams
from kashi.errors import ValidationFailed

STREAM = "issuer"
FIELDS = ("legal_name", "tax_id", "address", "phone", "email", "bank_name", "bank_account", "logo_png_base64")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def current(conn: Connection) -> dict[str, Any] | None:
    """The issuer profile in force (with `version` and `updated_at`), or None when none was set."""
    events = streams.load(conn, STREAM)
    if not events:
        return None
    last = events[-1]
    return {
        **{field: last.data.get(field) for field in FIELDS},
        "version": last.version,
        "updated_at": instant_to_json(last.recorded_at),
    }


def put(conn: Connection, profile: dict[str, Any], *, actor: str) -> dict[str, Any]:
    """Record `profile` (every field of FIELDS; absent optional ones are None) as the issuer's."""
    logo = profile.get("logo_png_base64")
    if logo is not None:
        try:
            raw = base64.b64decode(logo, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValidationFailed.of("logo_png_base64", "must be base64 of a PNG image") from exc
        if not raw.startswith(PNG_MAGIC):
            raise ValidationFailed.of("logo_png_base64", "must be a PNG image")
    data = {field: profile.get(field) for field in FIELDS}
    streams.append(conn, STREAM, streams.current_version(conn, STREAM), [("IssuerProfileSet", data)], actor)
    return current(conn)
