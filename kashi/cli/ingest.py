"""``kashi ingest parked|requeue``: batches that failed delivery too often, and putting one back on
the queue once its cause is fixed. Wiring only: each resolves the servers and calls a service."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from kashi.cli.common import DataDir, err, fail, settings_for
from kashi.cli.common import servers as _servers

ingest_app = typer.Typer(help="Parked ingest batches: list them, requeue one.", no_args_is_help=True)


@ingest_app.command("parked")
def parked(data_dir: DataDir = None) -> None:
    """List parked batches, one a line: batch id, events, deliveries, first seen, error."""
    from kashi.db import make_engine
    from metering import health

    engine = make_engine(_servers(settings_for(data_dir), start=False).database_url)
    with engine.connect() as conn:
        rows = health.parked_batches(conn)
    for row in rows:
        typer.echo(
            f"{row['batch_id']}\t{row['events']}\t{row['attempts']}\t{row['first_seen'].isoformat()}\t{row['error']}"
        )
    err.print(f"{len(rows)} parked batch(es)")


@ingest_app.command("requeue")
def requeue(
    batch_id: Annotated[str, typer.Argument(help="The parked batch's id (from `kashi ingest parked`).")],
    data_dir: DataDir = None,
) -> None:
    """Put a parked batch back on the ingest queue, durably, with fresh deliveries; recorded as done by
    this OS user. Its events are still counted once each. Prints the batch id."""
    from kashi.db import make_engine
    from kashi.errors import KashiError
    from metering import requeue as service
    from workers.broker import enqueue_usage, make_broker, receipts_of

    settings = settings_for(data_dir)
    found = _servers(settings, start=False)
    engine = make_engine(found.database_url)
    broker = make_broker(
        found.redis_url, namespace=settings.queue_namespace, waitaof_timeout_ms=settings.waitaof_timeout_ms
    )
    receipts = receipts_of(broker, settings.queue_namespace)

    def enqueue(batch: str, rows: list[list], receipt) -> None:
        enqueue_usage(broker, batch, rows, receipt, receipts)

    try:
        with engine.begin() as conn:
            done = service.requeue(conn, batch_id, actor=f"cli:{getpass.getuser()}", enqueue=enqueue)
    except KashiError as exc:
        fail(exc.message)
    finally:
        broker.close()
    typer.echo(done["batch_id"])
    err.print(f"batch {batch_id} requeued: {done['events']} event(s), after {done['attempts']} deliveries")
