"""Shapes every resource shares: the error body, money and instants as strings, list pages."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MONEY = r"^-?\d+(\.\d{1,2})?$"


def money(description: str, example: str = "10000.00", default=..., alias: str | None = None):
    """A money field: a decimal string with at most two places (answers always carry two)."""
    return Field(
        default,
        alias=alias,
        description=description + " A decimal string, 2 places, rounded half up.",
        examples=[example],
        pattern=MONEY,
    )


def instant(description: str, example: str = "2026-10-01T00:00:00+08:00", default=...):
    """An instant field: RFC 3339 with an offset in requests, UTC with a Z in answers."""
    return Field(
        default, description=description + " RFC 3339 with an offset; answers are in UTC with a Z.", examples=[example]
    )


def example(**body) -> ConfigDict:
    """The ``model_config`` of a request body: unknown fields refused, and one whole example."""
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [body]})


class Body(BaseModel):
    """A request body: unknown fields are refused (422 naming them)."""

    model_config = ConfigDict(extra="forbid")


class Answer(BaseModel):
    """A response body."""


class FieldProblem(Answer):
    field: str = Field(
        description="The field (dotted path, or `[i].field` in an event batch) that is wrong.", examples=["timezone"]
    )
    reason: str = Field(description="What is wrong with it, in words.", examples=["unknown IANA timezone 'Mars/X'"])
    batch_id: str | None = Field(
        None, description="On a 409 batches_not_recorded: the acknowledged batch the close could not include."
    )
    status: str | None = Field(None, description="With batch_id: queued or parked.", examples=["parked"])


class ErrorDetail(Answer):
    code: str = Field(
        description="Stable machine-readable code: validation_failed, not_found, conflict, "
        "period_closed, version_conflict, batches_not_recorded, credit_exceeds_remaining, "
        "unauthorized, forbidden, payload_too_large, unsupported_media_type, unavailable.",
        examples=["validation_failed"],
    )
    message: str = Field(description="A sentence for a person.", examples=["invalid tenant"])
    details: list[FieldProblem] = Field(default_factory=list, description="One entry per bad field.")


class Error(Answer):
    """Every error Kashi answers, whatever the status."""

    error: ErrorDetail = Field(description="What went wrong.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": {
                        "code": "validation_failed",
                        "message": "invalid tenant",
                        "details": [{"field": "timezone", "reason": "unknown IANA timezone 'Mars/Olympus'"}],
                    }
                }
            ]
        }
    )


class Page(Answer):
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; null on the last page.", examples=[None]
    )


class Single(Answer):
    """A listing that is always one page."""

    next_cursor: None = Field(None, description="Always null: the whole list is in one answer.")
