"""The compact-log migration (issue 17): a database written with the old `usage_events` table keeps
every event, its seq and batch, its dedup, its coverage and rollups, and replays to what ingest of
the same events computes; the downgrade gives the old table back."""

from __future__ import annotations

from contextlib import contextmanager

import orjson
from sqlalchemy import text

from billing.services.replay import USAGE_TABLES, rebuild_in_place, verify_all
from kashi.db import make_engine
from kashi.migrate import upgrade
from metering.events import validate_batch
from metering.store import record_batch

BEFORE = "issue17_0002"
OLD_COLUMNS = "source, id, seq, type, tenant_id, contract_id, event_time, batch_id, persisted_at, data"


def _event(uid, n, kind, subject, data, time="2026-10-01T01:00:00Z", source=None):
    event = {"specversion": "1.0", "id": f"{uid}-e-{n}", "source": source or f"node/{uid}", "time": time, "type": kind}
    if subject is not None:
        event["subject"] = subject
    event["data"] = data
    return event


def _events(uid):
    gpu = f"GPU-{uid}"
    usage = {"gpu": gpu, "gpu_model": "H100-SXM", "node": f"n-{uid}"}
    return [
        _event(
            uid,
            1,
            "gpu.usage",
            f"a-{uid}",
            {
                **usage,
                "start": "2026-10-01T00:00:00Z",
                "end": "2026-10-01T01:00:00Z",
                "utilization": "0.83",
                "contract_id": f"c-{uid}",
            },
        ),
        # another tenant on the same GPU-seconds: a conflict; an offset instant and an explicit null
        _event(
            uid,
            2,
            "gpu.usage",
            f"b-{uid}",
            {**usage, "start": "2026-10-01T08:30:00+08:00", "end": "2026-10-01T01:30:00.250Z", "utilization": None},
        ),
        _event(
            uid,
            3,
            "llm.tokens",
            f"a-{uid}",
            {"model": "m-1", "input_tokens": 10, "cached_tokens": 3, "contract_id": f"c-{uid}"},
            time="2026-10-01T02:10:00.5Z",
        ),
        _event(uid, 4, "llm.tokens", f"b-{uid}", {"model": "m-2", "output_tokens": 7, "contract_id": None}),
        _event(
            uid,
            5,
            "gpu.status",
            None,
            {
                **usage,
                "start": "2026-10-01T00:00:00+00:00",
                "end": "2026-10-01T02:00:00+00:00",
                "state": "down",
                "reason": "XID 79",
            },
        ),
        _event(
            uid,
            "x",
            "gpu.usage",
            f"a-{uid}",
            {
                "gpu": f"{gpu}-2",
                "gpu_model": "A100-80G",
                "start": "2026-10-01T03:00:00Z",
                "end": "2026-10-01T03:20:00Z",
                "utilization": ".5",
            },
        ),
    ]


@contextmanager
def _database(kashi, name):
    url = kashi.engine.url.set(database=name)
    with kashi.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(url.render_as_string(hide_password=False), pool_size=2)
    try:
        yield engine
    finally:
        engine.dispose()
        with kashi.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text(f'DROP DATABASE "{name}"'))


def _old_log(conn, uid, records, raw_events):
    """Rows as the previous head wrote them: the JSON `data` as sent, two batches, a seq gap left by
    a duplicate (ON CONFLICT drew a seq and dropped it) and a sequence ahead of the last row."""
    seqs = [1, 2, 4, 5, 6, 7]
    for seq, record, event in zip(seqs, records, raw_events, strict=True):
        conn.execute(
            text(f"""INSERT INTO usage_events ({OLD_COLUMNS})
                     VALUES (:s, :i, :q, :ty, :t, :c, to_timestamp(:at), :b, now() - interval '1 day' * :n,
                             CAST(:d AS jsonb))"""),
            {
                "s": record.source,
                "i": record.id,
                "q": seq,
                "ty": event["type"],
                "t": record.tenant_id,
                "c": record.contract_id,
                "at": record.time,
                "b": f"batch-{uid}-{seq // 4}",
                "n": seq // 4,
                "d": orjson.dumps(event["data"]).decode(),
            },
        )
    conn.execute(text("SELECT setval(pg_get_serial_sequence('usage_events', 'seq'), 9)"))
    gpu = records[0].gpu
    conn.execute(
        text("""INSERT INTO gpu_coverage (gpu, start_s, end_s, seq, tenant_id, contract_id, gpu_model)
                VALUES (:g, 1790812800, 1790816400, 1, :t, :c, 'H100-SXM')"""),
        {"g": gpu, "t": records[0].tenant_id, "c": records[0].contract_id},
    )
    conn.execute(
        text("""INSERT INTO gpu_hourly (tenant_id, contract_id, gpu_model, hour, card_seconds)
                VALUES (:t, :c, 'H100-SXM', 1790812800, 3600)"""),
        {"t": records[0].tenant_id, "c": records[0].contract_id},
    )


def _rows(conn, sql):
    return [tuple(r) for r in conn.execute(text(sql)).all()]


COVERAGE = """SELECT n.name, c.start_s, c.end_s, c.seq, c.tenant_id, c.contract_id, c.gpu_model
              FROM gpu_coverage c JOIN usage_names n ON n.no = c.gpu_no ORDER BY 4, 2"""


def _projections(conn):
    found = {"gpu_coverage": _rows(conn, COVERAGE)}
    for table in USAGE_TABLES:
        if table != "gpu_coverage":
            columns = "*" if table != "usage_conflicts" else "seq, gpu, start_s, end_s, tenant_id, holder_tenant_id"
            found[table] = sorted(_rows(conn, f"SELECT {columns} FROM {table}"), key=repr)
    return found


def test_upgrade_keeps_every_event_and_replays_as_ingest_would(kashi, uid):
    raw_events = _events(uid)
    records = validate_batch(raw_events)
    with _database(kashi, f"kashi_mig_{uid}") as old, _database(kashi, f"kashi_new_{uid}") as new:
        upgrade(old, BEFORE)
        with old.begin() as conn:
            _old_log(conn, uid, records, raw_events)
        with old.connect() as conn:
            before = _rows(conn, f"SELECT {OLD_COLUMNS} FROM usage_events ORDER BY seq")
            coverage = _rows(
                conn, "SELECT gpu, start_s, end_s, seq, tenant_id, contract_id, gpu_model FROM gpu_coverage"
            )
            hourly = _rows(conn, "SELECT * FROM gpu_hourly")

        upgrade(old)
        with old.connect() as conn:
            assert _rows(conn, f"SELECT {OLD_COLUMNS} FROM usage_events ORDER BY seq") == before
            assert [row[1:] for row in before] != [] and len(before) == len(records)
            assert _rows(conn, COVERAGE) == coverage
            assert _rows(conn, "SELECT * FROM gpu_hourly") == hourly
        with old.begin() as conn:  # dedup holds across the move: every event is already logged
            again = record_batch(conn, f"again-{uid}", records)
            assert (again.events, again.duplicates) == (0, len(records))
            later = validate_batch([_event(uid, 99, "llm.tokens", f"a-{uid}", {"model": "m-1", "input_tokens": 1})])
            assert record_batch(conn, f"later-{uid}", later).events == 1
            # the next seq continues after the old sequence (9), never reusing one
            later_seq = conn.execute(text("SELECT max(seq) FROM usage_log")).scalar_one()
            assert later_seq > 9

        # the migrated log, replayed, gives what ingest of the same events in the same order computes
        rebuild_in_place(old)
        assert verify_all(old) == []
        upgrade(new)
        with new.begin() as conn:
            for seq, record in zip([1, 2, 4, 5, 6, 7], records, strict=True):
                conn.execute(text("SELECT setval(pg_get_serial_sequence('usage_log', 'seq'), :s, false)"), {"s": seq})
                record_batch(conn, f"fresh-{uid}-{seq}", [record])
            conn.execute(text("SELECT setval(pg_get_serial_sequence('usage_log', 'seq'), :s, false)"), {"s": later_seq})
            record_batch(conn, f"later-{uid}", later)
        with old.connect() as a, new.connect() as b:
            assert _projections(a) == _projections(b)
            events = (
                "SELECT source, id, seq, type, tenant_id, contract_id, event_time, data FROM usage_events ORDER BY seq"
            )
            assert _rows(a, events) == _rows(b, events)

        # and back: the old table, with every row as it was (and the one logged since)
        from kashi.migrate import alembic_config

        cfg = alembic_config(old.url.render_as_string(hide_password=False))
        from alembic import command

        command.downgrade(cfg, BEFORE)
        with old.connect() as conn:
            back = _rows(conn, f"SELECT {OLD_COLUMNS} FROM usage_events ORDER BY seq")
            assert back[: len(before)] == before and len(back) == len(before) + 1
            assert (
                conn.execute(text("SELECT nextval(pg_get_serial_sequence('usage_events', 'seq'))")).scalar() > later_seq
            )


def test_epoch_hour_is_the_utc_hour_whatever_the_session_zone(kashi):
    """``kashi_epoch_hour`` (issue17ingest_0001: inlinable) gives the hours since 1970 of the instant,
    as the index built with the earlier body holds them: at hour edges, to the microsecond, in any zone."""
    instants = [
        "2026-10-01T00:00:00Z",
        "2026-09-30T23:59:59.999999Z",
        "2026-10-01T08:00:00+08:00",
        "2026-03-08T06:59:59.999999Z",  # New York springs forward at 07:00Z
        "2026-11-01T06:00:00.000001Z",  # and falls back at 06:00Z
        "1969-12-31T23:59:59Z",
        "2100-01-01T00:30:00+05:30",
    ]
    with kashi.engine.connect() as conn:
        for zone in ("UTC", "Asia/Shanghai", "America/New_York", "Asia/Kolkata"):
            conn.execute(text(f"SET TIME ZONE '{zone}'"))
            rows = conn.execute(
                text("""SELECT kashi_epoch_hour(CAST(t AS timestamptz)),
                               floor(extract(epoch FROM CAST(t AS timestamptz)) / 3600)::int
                        FROM unnest(CAST(:ts AS text[])) AS t"""),
                {"ts": instants},
            ).all()
            assert [a for a, _ in rows] == [b for _, b in rows], zone
        conn.rollback()


TOKEN_QUERY = """EXPLAIN SELECT count(*) FROM usage_log
                 WHERE kind = 2 AND tenant_no = 1 AND kashi_epoch_hour(event_time) BETWEEN 1 AND 2"""


def _index_condition(conn) -> str:
    plan = [r[0] for r in conn.execute(text(TOKEN_QUERY))]
    assert any("ix_usage_log_tokens" in line for line in plan), plan
    return " ".join(line for line in plan if "Index Cond" in line)


def test_token_rollups_move_to_a_row_per_model_hour_and_back(kashi, uid):
    """issue17ingest_0001: the per-kind rows are summed into one row per (tenant, contract, model, hour)
    and unpivoted back on downgrade; a connection open across the upgrade still uses the token index."""
    from alembic import command

    from kashi.migrate import alembic_config

    old_rows = [
        (f"t-{uid}", "c-1", "m-1", "cached", 3600, 3),
        (f"t-{uid}", "c-1", "m-1", "input", 3600, 10),
        (f"t-{uid}", "", "m-2", "output", 7200, 7),
    ]
    with _database(kashi, f"kashi_tok_{uid}") as engine:
        upgrade(engine, "issue17log_0001")
        with engine.begin() as conn:
            for row in old_rows:
                conn.execute(
                    text(
                        "INSERT INTO token_hourly (tenant_id, contract_id, model, kind, hour, tokens) "
                        "VALUES (:t, :c, :m, :k, :h, :n)"
                    ),
                    dict(zip("tcmkhn", row, strict=True)),
                )
        with engine.connect() as held:  # open across the upgrade, its index expression cached
            held.execute(text("SET enable_seqscan = off"))
            assert "kashi_epoch_hour" in _index_condition(held)
            upgrade(engine, "issue17ingest_0001")
            assert "3600" in _index_condition(held)  # the hour bounds, inlined, still bound the index scan
            held.rollback()
        with engine.connect() as conn:
            assert _rows(
                conn,
                """SELECT tenant_id, contract_id, model, hour, input_tokens, output_tokens, cached_tokens
                                  FROM token_hourly ORDER BY model""",
            ) == [
                (f"t-{uid}", "c-1", "m-1", 3600, 10, 0, 3),
                (f"t-{uid}", "", "m-2", 7200, 0, 7, 0),
            ]
        command.downgrade(alembic_config(engine.url.render_as_string(hide_password=False)), "issue17log_0001")
        with engine.connect() as conn:
            back = _rows(conn, "SELECT tenant_id, contract_id, model, kind, hour, tokens FROM token_hourly")
            assert sorted(back) == sorted(old_rows)


def _migration(name: str):
    import importlib.util
    from pathlib import Path

    path = next((Path(__file__).parents[2] / "migrations" / "versions").glob(f"*_{name}_*.py"))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


KEYS = """SELECT l.seq, n.name, l.id_suffix FROM usage_log l JOIN usage_names n ON n.no = l.id_prefix_no
          ORDER BY l.seq"""


def test_keys_move_to_the_new_id_split_and_back(kashi, uid, monkeypatch):
    """issue17ingest_0002: rows logged under the old split (after the last non-digit) get the new one
    (a trailing UUID, else from the last long digit run); each event keeps one key, a resend still
    finds it, replay agrees, and the downgrade moves them back."""
    import uuid

    from alembic import command

    from kashi.migrate import alembic_config
    from metering import log

    mig = _migration("issue17ingest_0002")
    ids = [
        "n7-GPU-1-1790812800",  # an agent's id: the same under both rules (the source is the test's own)
        "n7-GPU-1-1790812800-overlap-2",
        "550e8400-e29b-41d4-a716-446655440000",  # the old rule kept all but its last 12 digits as a name
        f"urn:uuid:{uuid.UUID(int=7)}",
        "n7-tok-3-17",
    ]
    raw_events = _events(uid)[:5]
    for event, event_id in zip(raw_events, ids, strict=True):
        event["id"] = event_id
    records = validate_batch(raw_events)
    with _database(kashi, f"kashi_ids_{uid}") as engine:
        upgrade(engine, "issue17ingest_0001")
        with monkeypatch.context() as patch, engine.begin() as conn:
            patch.setattr(log, "split_id", mig.old_split)
            record_batch(conn, f"old-{uid}", records)
        with engine.connect() as conn:
            before = _rows(conn, KEYS)
        assert [(name, suffix) for _, name, suffix in before] == [mig.old_split(i) for i in ids]

        upgrade(engine, "issue17ingest_0002")
        with engine.connect() as conn:
            after = _rows(conn, KEYS)
            sent = _rows(conn, "SELECT id FROM usage_events ORDER BY seq")
        assert [(name, suffix) for _, name, suffix in after] == [log.split_id(i) for i in ids]
        assert [seq for seq, _, _ in after] == [seq for seq, _, _ in before] and [s for (s,) in sent] == ids
        assert sum(old != new for old, new in zip(before, after, strict=True)) == 3  # overlap and both UUIDs
        with engine.connect() as conn:  # and the heap is in seq order again (the seq BRIN relies on it)
            in_heap = conn.execute(text("SELECT array_agg(seq ORDER BY ctid) FROM usage_log")).scalar_one()
        assert in_heap == sorted(in_heap)
        with engine.begin() as conn:
            again = record_batch(conn, f"again-{uid}", records)
        assert (again.events, again.duplicates) == (0, len(records))
        rebuild_in_place(engine)
        assert verify_all(engine) == []

        command.downgrade(alembic_config(engine.url.render_as_string(hide_password=False)), "issue17ingest_0001")
        with engine.connect() as conn:
            assert _rows(conn, KEYS) == before
        with monkeypatch.context() as patch, engine.begin() as conn:
            patch.setattr(log, "split_id", mig.old_split)
            assert record_batch(conn, f"back-{uid}", records).events == 0
