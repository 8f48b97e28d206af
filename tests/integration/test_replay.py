"""`kashi replay --verify` on real servers (SPEC §7, issue 5): a replay reproduces every projection and
every issued invoice, and a tampered invoice or rollup is reported."""

from __future__ import annotations

from sqlalchemy import text
from typer.testing import CliRunner

from billing.core.periods import Period
from billing.services.close import close_tenant
from billing.services.replay import verify_all
from tests.integration.billing_scenario import contract, gpu_event, send, sign, token_event

H100 = {
    "id": "i-h",
    "pricing": "gpu_hour",
    "gpu_model": "H100-SXM",
    "unit_price": "12.50",
    "committed_card_hours": "10",
}
TOKENS = {
    "id": "i-t",
    "pricing": "token",
    "model": "*",
    "input_price": "2.00",
    "output_price": "8.00",
    "cached_input_price": "0.50",
}
MACHINES = {"id": "i-m", "pricing": "machine_month", "gpu_model": "RTX-4090", "machines": 3, "unit_price": "7200.00"}


def _scenario(kashi, uid, tenant):
    sign(kashi, contract(f"c-{uid}", tenant, H100, TOKENS, MACHINES))
    send(
        kashi,
        uid,
        [
            gpu_event(uid, 1, tenant, "2026-09-30T20:00:00+08:00", "2026-10-01T06:00:00+08:00"),
            gpu_event(uid, 2, tenant, "2026-09-30T22:00:00+08:00", "2026-10-01T02:00:00+08:00"),
            token_event(uid, 3, tenant, "2026-09-15T12:00:00Z"),
        ],
    )
    close_tenant(kashi.engine, tenant, Period(2026, 9))
    send(
        kashi,
        uid,
        [
            gpu_event(uid, 4, tenant, "2026-09-29T00:00:00+08:00", "2026-09-29T20:00:00+08:00", gpu="G1"),
            token_event(uid, 5, tenant, "2026-09-20T12:00:00Z"),
        ],
    )
    return close_tenant(kashi.engine, tenant, Period(2026, 10))


def _mine(differences, *needles):
    return [d for d in differences if any(needle in d for needle in needles)]


def test_replay_verify_passes_then_reports_tampering(kashi, uid, new_tenant):
    (october,) = _scenario(kashi, uid, new_tenant)
    with kashi.engine.connect() as conn:
        number = conn.execute(text("SELECT number FROM invoices WHERE id = :i"), {"i": october}).scalar_one()
    assert _mine(verify_all(kashi.engine), new_tenant, number) == []

    with kashi.engine.begin() as conn:
        conn.execute(text("ALTER TABLE invoice_lines DISABLE TRIGGER ALL"))
        conn.execute(
            text("UPDATE invoice_lines SET amount = amount + 1 WHERE invoice_id = :i AND position = 1"), {"i": october}
        )
        conn.execute(text("ALTER TABLE invoice_lines ENABLE TRIGGER ALL"))
    tampered = _mine(verify_all(kashi.engine), number)
    assert tampered and all("line 1 amount" in d for d in tampered), tampered

    with kashi.engine.begin() as conn:
        conn.execute(
            text("UPDATE gpu_hourly SET card_seconds = card_seconds + 7 WHERE tenant_id = :t"), {"t": new_tenant}
        )
    assert any(d.startswith("gpu_hourly:") for d in _mine(verify_all(kashi.engine), new_tenant))


def test_replay_cli_exit_status(kashi, uid, new_tenant, monkeypatch):
    from kashi.cli import app

    _scenario(kashi, uid, new_tenant)
    monkeypatch.setenv("KASHI_DATABASE_URL", kashi.servers.database_url)
    monkeypatch.setenv("KASHI_REDIS_URL", kashi.servers.redis_url)
    differences = verify_all(kashi.engine)
    result = CliRunner().invoke(app, ["replay", "--verify"])
    assert result.exit_code == (1 if differences else 0), result.output
    assert all(d in result.output for d in differences[:5])


def test_replay_in_small_chunks_counts_overlaps_across_chunk_edges_the_same(kashi, uid, new_tenant, monkeypatch):
    from billing.services import replay

    _scenario(kashi, uid, new_tenant)
    monkeypatch.setattr(replay, "REPLAY_CHUNK", 2)  # the overlapping intervals land in different chunks
    assert _mine(verify_all(kashi.engine), new_tenant) == []


def test_replay_fetches_the_log_in_more_than_one_chunk_of_bounded_size(kashi, uid, new_tenant, monkeypatch):
    from billing.services import replay

    _scenario(kashi, uid, new_tenant)
    monkeypatch.setattr(replay, "REPLAY_CHUNK", 2)
    chunks: list[int] = []
    assert _mine(verify_all(kashi.engine, lambda events, seq: chunks.append(events)), new_tenant) == []
    assert len(chunks) > 1 and max(chunks) <= 2, chunks


def test_rebuild_in_place_that_dies_is_refused_by_a_close_then_resumed_from_its_checkpoint(
    kashi, uid, new_tenant, monkeypatch
):
    import pytest

    from billing.services import replay
    from kashi.errors import Conflict

    _scenario(kashi, uid, new_tenant)
    monkeypatch.setattr(replay, "REPLAY_CHUNK", 2)
    replayed = replay.replay_chunk
    calls = []

    def dies_on_the_third_chunk(conn, chunk):
        calls.append(len(chunk))
        if len(calls) == 3:
            raise RuntimeError("killed")
        replayed(conn, chunk)

    monkeypatch.setattr(replay, "replay_chunk", dies_on_the_third_chunk)
    with pytest.raises(RuntimeError):
        replay.rebuild_in_place(kashi.engine)
    with kashi.engine.connect() as conn:
        checkpoint = conn.execute(text("SELECT seq, events FROM replay_checkpoints")).one()
    assert checkpoint.events == 4
    with pytest.raises(Conflict, match="rebuild"):
        close_tenant(kashi.engine, new_tenant, Period(2026, 11))

    monkeypatch.setattr(replay, "replay_chunk", replayed)
    monkeypatch.setattr(replay, "REPLAY_CHUNK", 1000)
    reached: list[int] = []
    counts = replay.rebuild_in_place(kashi.engine, lambda events, seq: reached.append(seq))
    assert reached[0] == checkpoint.seq  # resumed, not restarted
    with kashi.engine.connect() as conn:
        assert counts["usage events"] == conn.execute(text("SELECT count(*) FROM usage_events")).scalar_one()
        assert conn.execute(text("SELECT count(*) FROM replay_checkpoints")).scalar_one() == 0
    assert _mine(verify_all(kashi.engine), new_tenant) == []
