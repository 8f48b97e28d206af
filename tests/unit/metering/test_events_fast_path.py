"""The ingest fast path (plain events, msgspec, no pydantic) and the full validator agree on every batch.

The fast path may only decline (return None, leaving the body to the full validator): whenever it
answers, the full validator accepts the same batch with the very same rows and count. Batches are generated
from the odd corners of the shapes: RFC 3339 spellings, JSON types, lengths, NULs, unknown keys,
missing keys, repeated ``(source, id)``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kashi.errors import BatchRejected, SourceNotAllowed, ValidationFailed
from metering import events, ingest
from metering.agent.simulate import simulate_events
from metering.events import MAX_EVENTS, UsageRecord, validate_batch


def full_answer(payload):
    """The full (pydantic) validator's rows, or its rejection's details."""
    try:
        return [r.to_wire() for r in events._validate_full(payload)]
    except BatchRejected as exc:
        return exc.details


def answer(payload):
    """What a request body of ``payload`` is validated to: the fast path's rows, else the full validator's
    answer (:func:`metering.ingest.parse_rows`, less its NUL check)."""
    rows = fast(payload)
    return full_answer(sent(payload)) if rows is None else rows


def fast(payload):
    """The fast path's rows for a request body of ``payload`` (None: left to the full validator)."""
    found = events.fast_rows(orjson.dumps(payload))
    if found is not None:
        rows, count = found
        assert count == len(payload)
        return rows
    return None


def sent(payload):
    """``payload`` as the API decodes it from the body (JSON has no infinity: orjson writes null)."""
    return orjson.loads(orjson.dumps(payload))


# --- generators of the odd corners -------------------------------------------------------------

years = st.sampled_from(["2026", "2024", "2023", "0001", "9999", "0000", "1970", "26"])
two = st.sampled_from(
    ["00", "01", "02", "09", "12", "13", "23", "24", "28", "29", "30", "31", "32", "59", "60", "99", "1"]
)
fractions = st.sampled_from(["", ".5", ".12", ".123456", ".1234567", ".123456789", ",5", ".", ".000000"])
offsets = st.sampled_from(
    ["Z", "z", "+00:00", "-00:00", "+08:00", "-05:30", "+23:59", "-23:59", "+24:00", "+00:60", "+0800", "+08", ""]
)
separators = st.sampled_from(["T", "T", "T", "t", " ", "_"])


@st.composite
def stamps(draw):
    """RFC 3339 texts and near misses, plus the other JSON values an instant might arrive as."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.one_of(st.integers(-(2**40), 2**40), st.floats(allow_nan=False), st.booleans(), st.none()))
    if kind == 1:
        return draw(st.text(max_size=30))
    y, mo, d, h, mi, s = (draw(years), draw(two), draw(two), draw(two), draw(two), draw(two))
    text = f"{y}-{mo}-{d}{draw(separators)}{h}:{mi}:{s}{draw(fractions)}{draw(offsets)}"
    return text if kind > 2 else text + draw(st.sampled_from(["\n", " ", "\x00", "x"]))


@st.composite
def plain_stamps(draw):
    """The spelling agents use, valid: these the fast path must take."""
    instant = draw(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
    offset = draw(st.sampled_from([timedelta(0), timedelta(hours=8), timedelta(hours=-5, minutes=-30)]))
    text = instant.replace(tzinfo=UTC).astimezone(timezone(offset)).isoformat()
    return text.replace("+00:00", "Z") if draw(st.booleans()) else text


texts = st.one_of(
    st.sampled_from(["n7", "GPU-1", "a" * 256, "a" * 257, "", "é", "\x00", "tenant-a", "t\u2028", "😀" * 256]),
    st.text(max_size=4),
    st.sampled_from([0, 1.5, True, None, [], {}]),
)
counts = st.one_of(
    st.sampled_from([0, 1, 1200, -1, 2**62, 2**62 + 1, True, False, 1.0, 0.0, "1", None]),
    st.integers(-5, 10**6),
)
utilizations = st.sampled_from(
    ["0.83", "0", "1", "1.0", "1.00", ".5", "0.", "1.", "1.5", "0.5\n", " 0.5", "01", "", "0.5x", 0.5, 1, None, True]
)


good = st.fixed_dictionaries(
    {
        "model": st.sampled_from(["qwen2.5-72b", "m"]),
        "input_tokens": st.integers(1, 2**62),
        "output_tokens": st.integers(0, 10**9),
    }
)


@st.composite
def plain_events(draw):
    """Events as agents send them: the fast path must take every batch of these."""
    kind = draw(st.sampled_from(["gpu.usage", "llm.tokens", "gpu.status"]))
    time = draw(plain_stamps())
    event = {"specversion": "1.0", "id": draw(st.sampled_from(["e1", "e2", "e3"])), "source": "node/n7"}
    event |= {"time": time, "type": kind}
    if kind == "llm.tokens":
        event |= {"subject": "tenant-a", "data": draw(good)}
        return event
    start = draw(plain_stamps())
    length = draw(st.sampled_from([timedelta(seconds=1), timedelta(microseconds=1), timedelta(hours=24)]))
    end = (datetime.fromisoformat(start) + length).isoformat()
    data = {"gpu": "GPU-1", "gpu_model": "H100-SXM", "start": start, "end": end, "node": "n7", "utilization": "0.5"}
    if kind == "gpu.status":
        data["state"] = draw(st.sampled_from(["idle", "allocated", "down"]))
    else:
        event["subject"] = "tenant-a"
    event["data"] = data
    return event


ODD = {
    "time": stamps(),
    "start": stamps(),
    "end": stamps(),
    "input_tokens": counts,
    "output_tokens": counts,
    "cached_tokens": counts,
    "utilization": utilizations,
    "specversion": st.sampled_from(["1.0", "1", 1.0, None, "1.0 "]),
    "type": st.sampled_from(["gpu.usage", "llm.tokens", "gpu.status", "other", None, 1]),
    "state": st.sampled_from(["idle", "allocated", "down", "lit", "", None, 1]),
    "data": st.sampled_from([None, [], "x", {}]),
}
EVENT_KEYS = ["specversion", "id", "source", "subject", "time", "type", "data", "extra", "datacontenttype"]
DATA_KEYS = ["gpu", "gpu_model", "start", "end", "node", "utilization", "contract_id", "reason", "state", "model"]
DATA_KEYS += ["input_tokens", "output_tokens", "cached_tokens", "extra"]


@st.composite
def odd_events(draw):
    """A plain event with up to three of its keys (or its data's) removed, added or set to an odd value."""
    event = draw(plain_events())
    event["data"] = dict(event["data"])
    for _ in range(draw(st.integers(0, 3))):
        in_data = draw(st.booleans()) and isinstance(event.get("data"), dict)
        target = event["data"] if in_data else event
        key = draw(st.sampled_from(DATA_KEYS if in_data else EVENT_KEYS))
        if draw(st.integers(0, 4)) == 0:
            target.pop(key, None)
        else:
            target[key] = draw(ODD.get(key, st.one_of(texts, st.none())))
    return event


# --- the properties ------------------------------------------------------------------------------


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(odd_events(), min_size=1, max_size=3))
def test_fast_path_answers_only_what_the_full_validator_answers_the_same(batch):
    rows = fast(batch)
    full = full_answer(sent(batch))
    if rows is not None:
        assert rows == full, "the fast path accepted what the full validator answers differently"
    assert answer(batch) == full


@settings(max_examples=500, deadline=None)
@given(st.lists(plain_events(), min_size=1, max_size=5))
def test_fast_path_takes_plain_batches_with_the_same_rows_and_repeats_kept_once(batch):
    rows = fast(batch)
    assert rows is not None
    assert rows == full_answer(batch)


@settings(max_examples=300, deadline=None)
@given(st.lists(plain_events(), min_size=1, max_size=3), st.lists(odd_events(), min_size=1, max_size=2), st.data())
def test_one_odd_event_sends_the_whole_batch_to_the_full_validator(plain, odd, data):
    batch = data.draw(st.permutations(plain + odd))
    assert answer(batch) == full_answer(sent(batch))


# --- worked examples -----------------------------------------------------------------------------


def gpu(n=1, **data):
    return {
        "specversion": "1.0",
        "id": str(n),
        "source": "node/n7",
        "type": "gpu.usage",
        "subject": "tenant-a",
        "time": "2026-10-01T01:00:00.250+08:00",
        "data": {"gpu": "G", "gpu_model": "RTX-4090", "start": "2026-10-01T00:00:00.9+08:00", **data},
    }


def test_plain_gpu_event_row_has_float_time_floored_window_and_data_as_sent():
    event = gpu(end="2026-10-01T01:00:00.999999+08:00", utilization="0.83")
    (row,) = fast([event])
    assert row == [
        "gpu",
        "node/n7",
        "1",
        "tenant-a",
        1790787600.25,
        None,
        event["data"],
        "G",
        "RTX-4090",
        1790784000,
        1790787600,
        None,
        0,
        0,
        0,
    ]
    assert row[6] == event["data"]
    assert UsageRecord.from_wire(row) == validate_batch([event])[0]


@pytest.mark.parametrize(
    "end",
    [
        "2026-10-01T00:00:00.9+08:00",  # not after start
        "2026-10-02T00:00:00.900001+08:00",  # 24 h and a microsecond
        "2026-10-01T01:00:00+00:60",  # an offset minute Python's parser would take
        "2026-10-01T24:00:00+08:00",
        "2026-10-01t01:00:00+08:00",  # lowercase: pydantic's, not the fast path's
    ],
)
def test_fast_path_declines_edges_and_the_full_validator_decides(end):
    assert fast([gpu(end=end)]) is None
    assert answer([gpu(end=end)]) == full_answer([gpu(end=end)])


def test_exactly_24_hours_is_taken_by_the_fast_path():
    assert fast([gpu(end="2026-10-02T00:00:00.9+08:00")]) is not None


def test_simulated_agent_batches_all_take_the_fast_path():
    start = datetime(2026, 10, 1, tzinfo=UTC)
    batch = simulate_events(gpus=4, start=start, window_s=300, seed=3, source="node/n1", tenant_ids=["t1", "t2"])
    assert fast(batch) is not None
    assert fast(batch) == full_answer(batch)


def test_parse_rows_refuses_nul_characters_like_parse():
    body = orjson.dumps([gpu(end="2026-10-01T01:00:00+08:00", node="n\x007")])
    with pytest.raises(ValidationFailed):
        ingest.parse_rows(body)
    with pytest.raises(ValidationFailed):
        ingest.parse(body)


def test_parse_is_parse_rows_as_records():
    body = orjson.dumps([gpu(1, end="2026-10-01T01:00:00+08:00"), gpu(1, end="2026-10-01T01:00:00+08:00")])
    rows, count = ingest.parse_rows(body)
    records, same = ingest.parse(body)
    assert (count, same, len(rows)) == (2, 2, 1)
    assert [r.to_wire() for r in records] == rows


def test_check_source_names_the_index_of_each_foreign_event_in_rows_and_records():
    body = orjson.dumps(
        [gpu(1, end="2026-10-01T01:00:00+08:00"), {**gpu(2, end="2026-10-01T01:00:00+08:00"), "source": "x"}]
    )
    rows, _ = ingest.parse_rows(body)
    records, _ = ingest.parse(body)
    for batch in (rows, records):
        with pytest.raises(SourceNotAllowed) as caught:
            ingest.check_source(batch, "node/n7")
        assert caught.value.indexes == [1]
        ingest.check_source(batch, None)


def test_check_source_names_positions_in_the_request_when_a_repeated_event_was_kept_once():
    first = gpu(1, end="2026-10-01T01:00:00+08:00")
    body = orjson.dumps([first, first, {**gpu(2, end="2026-10-01T01:00:00+08:00"), "source": "x"}])
    rows, _ = ingest.parse_rows(body)
    assert len(rows) == 2
    with pytest.raises(SourceNotAllowed) as caught:
        ingest.check_source(rows, "node/n7", body)
    assert caught.value.indexes == [2]
    structured = orjson.dumps({**first, "source": "x"})
    with pytest.raises(SourceNotAllowed) as caught:
        ingest.check_source(ingest.parse_rows(structured)[0], "node/n7", structured)
    assert caught.value.indexes == [0]


def tokens(n=1, **data):
    return {
        "specversion": "1.0",
        "id": f"t-{n}",
        "source": "node/n7",
        "type": "llm.tokens",
        "subject": "tenant-a",
        "time": "2026-10-01T01:00:00Z",
        "data": {"model": "qwen2.5-72b", **data},
    }


def test_data_comes_back_as_sent_absent_keys_absent_explicit_nulls_kept():
    usage = gpu(end="2026-10-01T01:00:00+08:00", contract_id=None, utilization=None)
    counted = tokens(input_tokens=5, contract_id="c-1")
    rows = fast([usage, counted])
    assert [row[6] for row in rows] == [usage["data"], counted["data"]]
    assert "output_tokens" not in rows[1][6]
    assert rows[1][11:] == ["qwen2.5-72b", 5, 0, 0]
    assert rows == full_answer([usage, counted])


@pytest.mark.parametrize(
    "body",
    [
        orjson.dumps(gpu(end="2026-10-01T01:00:00+08:00")),  # one event (structured mode): the full path takes it
        b"[]",
        orjson.dumps([tokens(n) for n in range(MAX_EVENTS + 1)]),  # 413 is the full path's to answer
        b'[{"specversion":"1.0","id":"\\ud800","source":"s","type":"llm.tokens","subject":"t",'
        b'"time":"2026-10-01T01:00:00Z","data":{"model":"m","input_tokens":1}}]',  # a lone surrogate
        orjson.dumps([tokens(model="m\x00")]),
        orjson.dumps([tokens(input_tokens=1.0)]),
        orjson.dumps([tokens(input_tokens=True)]),
        orjson.dumps([{**tokens(input_tokens=1), "datacontenttype": "application/json"}]),
    ],
)
def test_fast_path_declines_bodies_it_does_not_know(body):
    assert events.fast_rows(body) is None


RAW = b'{"specversion":"1.0","id":"t-1","source":"node/n7","type":"llm.tokens","subject":"tenant-a",'


@pytest.mark.parametrize(
    "body",
    [
        RAW
        + b'"time":"2026-10-01T01:00:00Z","data":{"model":"m","input_tokens":1},"data":{"model":"n","input_tokens":2}}',
        RAW + rb'"time":"2026-10-01T01:00:00Z","data":{"model":"a\/b","input_tokens":-0,"output_tokens":3}}',
        RAW
        + rb'"time":"2026-10-01T01:00:00Z","data":{"model":"\u2028\ud83d\ude00","cached_tokens":4611686018427387904}}',
        RAW + b'"time":"2026-10-01T01:00:00Z","data":{"model":"m","input_tokens":1e3}}',
        RAW + b'"time":"2026-10-01T01:00:00Z","data":{"model":"m","input_tokens":0,"output_tokens":0}}',
        RAW + b'"time":"2026-10-01T01:00:00Z","type":"gpu.usage","data":{"model":"m","input_tokens":1}}',
        b"\xef\xbb\xbf[" + RAW + b'"time":"2026-10-01T01:00:00Z","data":{"model":"m","input_tokens":1}}]',
    ],
)
def test_raw_body_corners_answered_as_the_full_validator_does(body):
    """Spellings no ``orjson.dumps`` writes (the properties above build bodies with it): duplicate keys,
    escapes, ``-0``, exponents, a repeated ``type``, a byte order mark."""
    body = body if body.startswith(b"\xef") else b"[" + body + b"]"
    found = events.fast_rows(body)
    try:
        full = [r.to_wire() for r in events._validate_full(orjson.loads(body))]
    except (BatchRejected, orjson.JSONDecodeError):
        assert found is None
        return
    assert found is None or found == (full, 1)


def test_a_key_repeated_in_an_object_counts_as_its_last_value_on_both_paths():
    body = (
        b'[{"specversion":"1.0","id":"t-1","source":"node/n7","type":"llm.tokens","subject":"tenant-a",'
        b'"time":"2026-10-01T01:00:00Z","data":{"model":"m","input_tokens":1,"input_tokens":7}}]'
    )
    rows, count = events.fast_rows(body)
    assert (count, rows[0][12], rows[0][6]) == (1, 7, {"model": "m", "input_tokens": 7})
    assert rows == full_answer(orjson.loads(body))
