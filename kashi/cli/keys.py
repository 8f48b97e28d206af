"""``kashi keys create|revoke``: API keys (SPEC §10). Wiring only."""

from __future__ import annotations

from typing import Annotated

import typer

from kashi.cli.common import DataDir, err, fail, settings_for
from kashi.cli.common import engine as _engine

keys_app = typer.Typer(help="Create and revoke API keys.", no_args_is_help=True)


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="operator, finance, tenant or agent.")],
    tenant: Annotated[str | None, typer.Option(help="The tenant of a tenant key.")] = None,
    source: Annotated[str | None, typer.Option(help="The CloudEvents source an agent key may send.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Create a key and print it alone on stdout (it is shown only this once)."""
    from kashi.errors import KashiError
    from kashi.keys import create_key

    engine = _engine(settings_for(data_dir), start=False)
    try:
        with engine.begin() as conn:
            key = create_key(conn, role, tenant_id=tenant, source=source)
    except KashiError as exc:
        fail("; ".join(f"{d['field']}: {d['reason']}" for d in exc.details) or exc.message)
    typer.echo(key)


@keys_app.command("revoke")
def keys_revoke(key_id: str, data_dir: DataDir = None) -> None:
    """Revoke a key by its id (the part after ``ks_``)."""
    from kashi.keys import revoke_key

    with _engine(settings_for(data_dir)).begin() as conn:
        if not revoke_key(conn, key_id):
            fail(f"no live key with id {key_id}")
    err.print(f"key {key_id} revoked")
