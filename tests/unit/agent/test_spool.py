"""The durable spool: dedup, acknowledgement, dead letters, bound, state in the same transaction."""

import pytest

from metering.agent.spool import Spool


def _event(n: int, source: str = "node/n1", pad: int = 0) -> dict:
    return {
        "specversion": "1.0",
        "id": f"e{n}",
        "source": source,
        "type": "gpu.usage",
        "subject": "t",
        "time": "2026-10-01T00:01:00+08:00",
        "data": {"pad": "x" * pad},
    }


@pytest.fixture
def spool(tmp_path):
    s = Spool(tmp_path / "spool")
    yield s
    s.close()


def test_events_wait_in_order_until_acknowledged(spool):
    assert spool.add([_event(1), _event(2), _event(3)]).stored == 3
    batch = spool.oldest()
    assert [e.id for e in batch] == ["e1", "e2", "e3"]
    spool.acknowledge(e.seq for e in batch[:2])
    assert [e.id for e in spool.oldest()] == ["e3"]
    assert spool.depth() == 1


def test_an_event_is_stored_once_whether_pending_delivered_or_dead(spool):
    spool.add([_event(1), _event(2), _event(3)])
    batch = spool.oldest()
    spool.acknowledge([batch[0].seq])
    spool.bury({batch[1].seq: "422 data.start: missing"})
    added = spool.add([_event(1), _event(2), _event(3), _event(4), _event(4)])
    assert (added.stored, added.duplicates) == (1, 4)
    assert spool.add([_event(1, source="node/n2")]).stored == 1  # (source, id) is the identity


def test_dead_letters_keep_the_event_and_the_reason(spool):
    spool.add([_event(1)])
    spool.bury({spool.oldest()[0].seq: "422 subject: unknown tenant"})
    assert spool.depth() == 0
    assert spool.dead_letters() == [{"id": "e1", "reason": "422 subject: unknown tenant", "event": _event(1)}]


def test_batches_respect_event_and_byte_limits(spool):
    spool.add([_event(n, pad=1000) for n in range(10)])
    assert len(spool.oldest(max_events=4)) == 4
    small = spool.oldest(max_bytes=3500)
    assert len(small) == 3
    assert len(spool.oldest(max_bytes=10)) == 1  # an oversized event still comes out, alone


def test_full_spool_refuses_new_events_and_keeps_old_ones(tmp_path, caplog):
    spool = Spool(tmp_path / "s", max_bytes=3000)
    assert spool.add([_event(1, pad=1000), _event(2, pad=1000)]).stored == 2
    with caplog.at_level("ERROR", logger="kashi.agent"):
        refused = spool.add([_event(3, pad=1000)], state={"tokens:x": "new"})
    assert (refused.stored, refused.refused) == (0, 1)
    assert "spool full" in caplog.text
    assert spool.get_state("tokens:x") is None  # state moves only with its events
    assert [e.id for e in spool.oldest()] == ["e1", "e2"]
    spool.acknowledge([spool.oldest()[0].seq])
    assert spool.add([_event(3, pad=1000)]).stored == 1


def test_state_commits_with_the_events(spool):
    spool.add([_event(1)], state={"tokens:vllm": '{"at": 1}'})
    assert spool.get_state("tokens:vllm") == '{"at": 1}'


def test_spool_survives_reopening(tmp_path):
    first = Spool(tmp_path / "s")
    first.add([_event(1), _event(2)])
    first.acknowledge([first.oldest()[0].seq])
    first.close()
    second = Spool(tmp_path / "s")
    assert [e.id for e in second.oldest()] == ["e2"]
    assert second.add([_event(1)]).duplicates == 1
    second.close()


def test_delivered_ids_are_forgotten_after_a_week(tmp_path):
    now = [1_000_000.0]
    spool = Spool(tmp_path / "s", clock=lambda: now[0])
    spool.add([_event(1)])
    spool.acknowledge([spool.oldest()[0].seq])
    now[0] += 8 * 86_400
    assert spool.forget_delivered() == 1
