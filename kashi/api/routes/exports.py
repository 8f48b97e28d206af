"""Finance exports: every invoice line of a month, all tenants, as CSV or xlsx; finance and
operator keys only. The body streams from a server-side cursor on its own connection, opened once
the response starts, so a month of a million lines never sits in memory."""

import tempfile
from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from sqlalchemy import Engine

from billing.core.periods import Period
from billing.services import exports
from kashi.api.deps import BillingReader, EngineDep
from kashi.api.routes.statements import MEDIA
from kashi.errors import ValidationFailed

router = APIRouter(tags=["exports"])
CHUNK = 1 << 16


def _csv(engine: Engine, period: Period) -> Iterator[bytes]:
    from billing.documents import csv

    with engine.connect() as conn:
        yield from csv.invoice_lines(exports.invoice_lines(conn, period))


def _xlsx(engine: Engine, period: Period) -> Iterator[bytes]:
    """A zip cannot be written front to back while rows arrive, so the workbook is built in a
    temporary file (flat memory: write-only mode) and then streamed from it."""
    from billing.documents.xlsx import write_invoice_lines

    with tempfile.TemporaryFile() as spool:
        with engine.connect() as conn:
            write_invoice_lines(spool, exports.invoice_lines(conn, period))
        spool.seek(0)
        while chunk := spool.read(CHUNK):
            yield chunk


@router.get("/exports/invoice-lines")
def invoice_lines(engine: EngineDep, principal: BillingReader, period: str, format: str = "csv"):
    """Operators and finance: every invoice line of the month, all tenants, with tax, as CSV (UTF-8 with
    BOM, opens in Excel in a Chinese locale) or xlsx; streamed, however many lines."""
    month = Period.parse(period)
    if format not in ("csv", "xlsx"):
        raise ValidationFailed.of("format", "must be csv or xlsx")
    body = _csv(engine, month) if format == "csv" else _xlsx(engine, month)
    disposition = f'attachment; filename="invoice-lines-{month}.{format}"'
    return StreamingResponse(body, media_type=MEDIA[format], headers={"Content-Disposition": disposition})
