"""Several dequeued batches recorded in one transaction (group commit), each still exactly once."""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import text

from metering.events import validate_batch
from metering.record import Delivery, Outcome, Recorder, record, record_many
from metering.store import record_batches
from tests.integration.test_ingest import card_seconds, events_logged, gpu_event, token_event


def rows(events):
    return [r.to_wire() for r in validate_batch(events)]


def batch_rows(kashi, batch_ids):
    with kashi.engine.connect() as conn:
        found = conn.execute(
            text("SELECT batch_id, status, attempts, new_events FROM ingest_batches WHERE batch_id = ANY(:b)"),
            {"b": list(batch_ids)},
        ).all()
    return {r.batch_id: (r.status, r.attempts, r.new_events) for r in found}


def tokens(kashi, tenant) -> int:
    with kashi.engine.connect() as conn:
        return conn.execute(
            text("""SELECT coalesce(sum(input_tokens + output_tokens + cached_tokens), 0)
                    FROM token_hourly WHERE tenant_id = :t"""),
            {"t": tenant},
        ).scalar_one()


def test_batches_recorded_together_count_an_event_resent_in_a_later_batch_once(kashi, uid, new_tenant):
    first = rows([gpu_event(uid, 1, tenant=new_tenant), token_event(uid, 1, tenant=new_tenant)])
    second = rows(
        [
            gpu_event(uid, 2, tenant=new_tenant, gpu="G1"),
            gpu_event(uid, 1, tenant=new_tenant),  # resent from the first batch
            token_event(uid, 1, tenant=new_tenant),  # resent too
        ]
    )
    third = rows([token_event(uid, 2, tenant=new_tenant, input_tokens=7, output_tokens=0)])
    ids = [f"g-{uid}-{i}" for i in range(3)]
    outcomes = record_many(kashi.engine, [Delivery(i, r) for i, r in zip(ids, (first, second, third), strict=True)])
    assert [o.status for o in outcomes] == ["recorded"] * 3
    assert [(o.recorded.events, o.recorded.duplicates) for o in outcomes] == [(2, 0), (1, 2), (1, 0)]
    assert [o.recorded.card_seconds for o in outcomes] == [3600, 3600, 0]
    assert events_logged(kashi, f"node/{uid}") == 2
    assert card_seconds(kashi, new_tenant) == 2 * 3600
    assert tokens(kashi, new_tenant) == 1500 + 7
    assert batch_rows(kashi, ids) == {ids[0]: ("done", 1, 2), ids[1]: ("done", 1, 1), ids[2]: ("done", 1, 1)}
    again = record_many(kashi.engine, [Delivery(i, r) for i, r in zip(ids, (first, second, third), strict=True)])
    assert [o.status for o in again] == ["already_recorded"] * 3


def test_a_faulty_batch_in_a_group_fails_alone_and_the_others_are_recorded(kashi, uid, new_tenant):
    good = rows([gpu_event(uid, 1, tenant=new_tenant)])
    faulty = [["gpu", "node/x"]]  # not a queued record: fails in the shared transaction
    also_good = rows([gpu_event(uid, 2, tenant=new_tenant, gpu="G1")])
    ids = [f"f-{uid}-{i}" for i in range(3)]
    outcomes = record_many(kashi.engine, [Delivery(i, r) for i, r in zip(ids, (good, faulty, also_good), strict=True)])
    assert isinstance(outcomes[0], Outcome) and outcomes[0].recorded.events == 1
    assert isinstance(outcomes[1], TypeError)
    assert isinstance(outcomes[2], Outcome) and outcomes[2].recorded.events == 1
    assert card_seconds(kashi, new_tenant) == 2 * 3600
    assert batch_rows(kashi, ids)[ids[1]] == ("processing", 1, None)


def test_a_batch_delivered_before_is_recorded_alone(kashi, uid, new_tenant, caplog):
    ids = [f"a-{uid}-{i}" for i in range(3)]
    batches = [rows([gpu_event(uid, i, tenant=new_tenant, gpu=f"G{i}")]) for i in range(3)]
    assert isinstance(record_many(kashi.engine, [Delivery(ids[1], [["bad"]])])[0], TypeError)  # delivered once
    with caplog.at_level(logging.INFO, logger="metering.record"):
        outcomes = record_many(kashi.engine, [Delivery(i, b) for i, b in zip(ids, batches, strict=True)])
    assert [o.status for o in outcomes] == ["recorded"] * 3
    together = {r.batch_id: r.together_with for r in caplog.records if r.getMessage() == "batch recorded"}
    assert together == {ids[0]: 1, ids[2]: 1, ids[1]: 0}
    assert batch_rows(kashi, ids)[ids[1]] == ("done", 2, 1)


def test_a_batch_handed_in_twice_at_once_is_recorded_once(kashi, uid, new_tenant):
    batch = rows([gpu_event(uid, 1, tenant=new_tenant)])
    outcomes = record_many(kashi.engine, [Delivery(f"d-{uid}", batch), Delivery(f"d-{uid}", batch)])
    assert [o.status for o in outcomes] == ["recorded", "recorded"]
    assert card_seconds(kashi, new_tenant) == 3600
    assert batch_rows(kashi, [f"d-{uid}"]) == {f"d-{uid}": ("done", 1, 1)}


def test_losing_the_race_for_an_event_key_records_again_and_counts_it_once(kashi, uid, new_tenant, caplog):
    """Token events take no GPU lock: a recorder can look a key up while another has it uncommitted;
    its COPY then waits on the key, meets it once the other commits, and the batch is recorded again."""
    record(kashi.engine, f"r-{uid}-names", rows([token_event(uid, 0, tenant=new_tenant)]))  # names committed
    event = token_event(uid, 1, tenant=new_tenant)
    records = validate_batch([event])
    result: list = []
    caplog.set_level(logging.INFO, logger="metering.record")
    with kashi.engine.connect() as holder:
        holder.begin()
        record_batches(holder, [(f"r-{uid}-0", records)])
        racer = threading.Thread(target=lambda: result.append(record(kashi.engine, f"r-{uid}-1", rows([event]))))
        racer.start()
        time.sleep(1.0)  # the racer looked the key up (not there yet) and waits in its COPY
        holder.commit()
    racer.join(timeout=30)
    assert result and result[0].status == "recorded"
    assert (result[0].recorded.events, result[0].recorded.duplicates) == (0, 1)
    assert tokens(kashi, new_tenant) == 2 * 1500
    assert any(r.getMessage().startswith("lost a race") for r in caplog.records)


def test_a_recorder_groups_what_its_threads_hand_in_and_each_returns_after_its_commit(kashi, uid, new_tenant, caplog):
    recorder = Recorder(kashi.engine)
    batches = {f"t-{uid}-{i}": rows([gpu_event(uid, i, tenant=new_tenant, gpu=f"G{i}")]) for i in range(12)}
    outcomes: dict[str, Outcome] = {}
    start = threading.Barrier(len(batches))

    def hand_in(batch_id):
        start.wait()
        outcomes[batch_id] = recorder.record(batch_id, batches[batch_id])
        status = batch_rows(kashi, [batch_id])[batch_id][0]  # committed before record() returned
        assert status == "done"

    with caplog.at_level(logging.INFO, logger="metering.record"):
        threads = [threading.Thread(target=hand_in, args=(b,)) for b in batches]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    assert {b: o.recorded.events for b, o in outcomes.items()} == dict.fromkeys(batches, 1)
    assert card_seconds(kashi, new_tenant) == 12 * 3600
    together = [r.together_with for r in caplog.records if r.getMessage() == "batch recorded"]
    assert len(together) == 12 and max(together) > 0


def test_tokens_roll_up_per_kind_and_utc_hour_of_the_event_time_from_the_log(kashi, uid, new_tenant):
    late_in_hour = {**token_event(uid, 3, tenant=new_tenant, cached_tokens=5), "time": "2026-10-03T12:59:59.999Z"}
    events = [token_event(uid, 1, tenant=new_tenant), token_event(uid, 2, tenant=new_tenant, cached_tokens=5)]
    record(kashi.engine, f"k-{uid}", rows([*events, late_in_hour, {**events[0], "id": f"{uid}-x", "subject": uid}]))
    with kashi.engine.connect() as conn:
        found = conn.execute(
            text("SELECT hour, input_tokens, output_tokens, cached_tokens FROM token_hourly WHERE tenant_id = :t"),
            {"t": new_tenant},
        ).all()
    hour = 1791028800  # 2026-10-03T12:00:00Z
    assert [tuple(r) for r in found] == [(hour, 3600, 900, 10)]
