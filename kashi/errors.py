"""Kashi's one error hierarchy (STYLE principle 7).

Every failure the business can name is a `KashiError` subclass carrying a stable `code`.
Nothing here knows about HTTP: `kashi/api/errors.py` maps codes to statuses once
(validation_failed and credit_exceeds_remaining → 422, not_found → 404,
conflict, period_closed and version_conflict → 409, unauthorized → 401, forbidden → 403,
payload_too_large → 413, unsupported_media_type → 415, unavailable → 503).
This module is the ground: it imports nothing of Kashi's, and every layer may import it.

`details` lists the offending fields, each `{"field": "items[2].unit_price", "reason": "..."}`,
so an API answer can name every bad field at once (SPEC §10 error shape).

The hierarchy is flat on purpose: a subclass exists only where a caller catches it by name.
`ValidationFailed` is also a `ValueError`, so pure parsers (money, periods) raise it and plain
Python callers can still catch `ValueError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class KashiError(Exception):
    """A failure the business can name.

    message: one sentence for a person.
    details: the fields at fault, each a dict with "field" and "reason"; empty when none applies.
    """

    code = "kashi_error"

    def __init__(self, message: str, details: Iterable[dict[str, str]] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.details: list[dict[str, str]] = [dict(detail) for detail in details]

    def to_json(self) -> dict[str, object]:
        """The body of an error answer: `{"code", "message", "details"}`."""
        return {"code": self.code, "message": self.message, "details": list(self.details)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, details={self.details!r})"


class ValidationFailed(KashiError, ValueError):
    """Input that breaks the contract of SPEC §2–§4 (bad money, bad field, unknown model...)."""

    code = "validation_failed"

    @classmethod
    def of(cls, field: str, reason: str) -> ValidationFailed:
        """One bad field: the message is `"<field>: <reason>"` and details name it."""
        return cls(f"{field}: {reason}", [{"field": field, "reason": reason}])


class UnknownGpuModel(ValidationFailed):
    """A GPU model name missing from the catalog (SPEC §2); operators add it with POST /v1/gpu-models."""

    def __init__(self, name: str, field: str = "gpu_model") -> None:
        reason = f"unknown GPU model {name!r}; add it to the catalog first"
        super().__init__(f"{field}: {reason}", [{"field": field, "reason": reason}])
        self.name = name


class NotFound(KashiError):
    """A contract, invoice, tenant... that does not exist (or that the caller may not see)."""

    code = "not_found"


class Conflict(KashiError):
    """A request that contradicts the state it would change."""

    code = "conflict"


class ContractClosed(Conflict):
    """A change to a contract that is already terminated or past its term end (SPEC §4, §6)."""


class PeriodAlreadyClosed(Conflict):
    """A termination or amendment taking effect inside an already closed period (SPEC §7)."""

    code = "period_closed"


class VersionConflict(Conflict):
    """An event stream whose versions are not 1, 2, … n: a concurrent writer or a corrupt stream."""

    code = "version_conflict"


class BatchesNotRecorded(Conflict):
    """A close found acknowledged batches it could not wait for (parked, or not recorded in time)."""

    code = "batches_not_recorded"


class CreditExceedsRemaining(KashiError):
    """A credit note larger than what remains of its invoice (SPEC §7)."""

    code = "credit_exceeds_remaining"


class UnstorableValue(ValidationFailed):
    """A value PostgreSQL refuses to store or compare (a NUL character, an out-of-range number);
    raised by the engine in place of the driver's ``DataError`` (see :func:`kashi.db.make_engine`).
    Nothing was written: the transaction rolled back."""

    def __init__(self, reason: str) -> None:
        super().__init__("a value in the request cannot be stored", [{"field": "request", "reason": reason}])


class Unauthorized(KashiError):
    """No API key, or one that is unknown or revoked (SPEC §9)."""

    code = "unauthorized"


class Forbidden(KashiError):
    """A valid key whose role or binding does not allow the request (SPEC §9)."""

    code = "forbidden"


class PayloadTooLarge(KashiError):
    """A request body over the limits of SPEC §3."""

    code = "payload_too_large"


class UnsupportedMediaType(KashiError):
    """A request body in a content type Kashi does not read."""

    code = "unsupported_media_type"


class Unavailable(KashiError):
    """A dependency (the queue) is down or not durable; the client retries later."""

    code = "unavailable"


class BatchTooLarge(PayloadTooLarge, ValueError):
    """A usage batch over MAX_BYTES or MAX_EVENTS (SPEC §3)."""


class BatchRejected(ValidationFailed):
    """An invalid usage batch, of which nothing is kept; ``details`` lists ``{"index", "field", "reason"}``
    for each problem (SPEC §3)."""

    def __init__(self, details: list[dict[str, Any]]) -> None:
        super().__init__(f"the batch is invalid; nothing of it was kept ({len(details)} problems)")
        self.details = list(details)


class SourceNotAllowed(Forbidden, ValueError):
    """Events whose source is not the one the agent key is bound to; ``indexes`` are their positions."""

    def __init__(self, indexes: list[int], source: str) -> None:
        super().__init__(
            f"this key may only send events with source {source!r}",
            [{"index": i, "field": "source", "reason": "not this key's source"} for i in indexes],
        )
        self.indexes = indexes
