"""The compact log row: every validated event comes back from its row exactly as ingest built it."""

from __future__ import annotations

import functools
import importlib.util
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from metering import log
from metering.events import validate_batch

BASE = datetime(2026, 10, 1, tzinfo=UTC)
names = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=12)
ids = st.one_of(
    names,
    st.builds(lambda p, n: f"{p}{n}", names, st.integers(0, 10**12).map(str)),
    st.uuids().map(str),
    st.integers(0, 10**6).map(lambda n: f"{n:07d}"),
    st.builds(lambda p, n, t: f"{p}{n}{t}", names, st.integers(0, 10**12).map(str), names),
    st.builds(lambda p, u: f"{p}{u}", names, st.uuids().map(lambda u: str(u).upper())),
)


def instant(seconds: int, micros: int, form: int) -> str:
    at = BASE + timedelta(seconds=seconds, microseconds=micros)
    text = at.isoformat()
    if form == 1:
        return text.replace("+00:00", "Z")
    if form == 2:
        return at.astimezone(UTC).astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai")).isoformat()
    return text


@st.composite
def events(draw):
    kind = draw(st.sampled_from(["gpu.usage", "llm.tokens", "gpu.status"]))
    event = {
        "specversion": "1.0",
        "id": draw(ids),
        "source": draw(names),
        "subject": draw(names),
        "time": instant(draw(st.integers(0, 10**6)), draw(st.sampled_from([0, 250_000])), draw(st.integers(0, 2))),
        "type": kind,
    }
    data: dict = {}
    if kind == "llm.tokens":
        data["model"] = draw(names)
        for key in ("input_tokens", "output_tokens", "cached_tokens"):
            if draw(st.booleans()):
                data[key] = draw(st.integers(0, 2**62))
        if not any(data.get(k) for k in ("input_tokens", "output_tokens", "cached_tokens")):
            data["input_tokens"] = 1
    else:
        start = draw(st.integers(0, 10**6))
        micros = draw(st.sampled_from([0, 0, 500_000]))
        data["gpu"], data["gpu_model"] = draw(names), draw(names)
        data["start"] = instant(start, micros, draw(st.integers(0, 2)))
        data["end"] = instant(start + draw(st.integers(1, 86_399)), 0, draw(st.integers(0, 2)))
        if draw(st.booleans()):
            data["node"] = draw(names)
        utilization = draw(st.sampled_from([None, "absent", "0.83", "1.00", "0.05", "1", ".5", "0.830"]))
        if utilization != "absent":
            data["utilization"] = utilization
        if kind == "gpu.status":
            data["state"] = draw(st.sampled_from(["idle", "allocated", "down"]))
            if draw(st.booleans()):
                data["reason"] = draw(st.none() | names)
    if kind != "gpu.status":
        contract = draw(st.sampled_from(["absent", None, "c-1"]))
        if contract != "absent":
            data["contract_id"] = contract
    elif draw(st.booleans()):
        del event["subject"]
    event["data"] = data
    return event


def round_trip(record):
    numbers: dict[str, int] = {}
    split = log.split_id(record.id)
    for name in log.names_of(record, split[0]):
        numbers.setdefault(name, len(numbers) + 1)
    row = log.encode(record, numbers, split)
    by_no = {no: name for name, no in numbers.items()}
    fields = SimpleNamespace(seq=1, **dict(zip(log.COLUMNS, row, strict=True)))
    return row, log.record_of(fields, by_no.__getitem__)


@settings(max_examples=400, deadline=None)
@given(events())
def test_a_record_comes_back_from_its_row_exactly(event):
    (record,) = validate_batch([event])
    _, again = round_trip(record)
    assert again == record
    assert again.data == event["data"]


@given(ids)
def test_an_id_is_its_prefix_and_suffix(event_id):
    prefix, suffix = log.split_id(event_id)
    assert prefix + suffix == event_id and suffix


def test_an_agents_id_keeps_its_trailing_digits_as_the_suffix():
    assert log.split_id("n000-GPU-4f53da07-4582-9cf0-818d-18586e959159-1790812800") == (
        "n000-GPU-4f53da07-4582-9cf0-818d-18586e959159-",
        "1790812800",
    )
    assert log.split_id("n002-tok-3-17") == ("n002-tok-3-", "17")
    assert log.split_id("12345") == ("", "12345")
    assert log.split_id("abc") == ("", "abc")


def test_what_varies_is_the_suffix_so_the_dictionary_holds_a_name_per_stream():
    # text after the counter: the counter starts the suffix
    assert log.split_id("n7-GPU-3-1790812800-overlap-2") == ("n7-GPU-3-", "1790812800-overlap-2")
    assert log.split_id("job-20261001-run-3") == ("job-", "20261001-run-3")
    # a trailing UUID is the suffix whatever its last digits
    assert log.split_id("550e8400-e29b-41d4-a716-446655440000") == ("", "550e8400-e29b-41d4-a716-446655440000")
    assert log.split_id("node7-550E8400-E29B-41D4-A716-44665544000A") == (
        "node7-",
        "550E8400-E29B-41D4-A716-44665544000A",
    )
    # a trailing hash or hyphenless UUID is the suffix
    assert log.split_id("sha-3f2a9c0d41b7e8a6f0c2d4e6b8a0c2e4") == ("sha-", "3f2a9c0d41b7e8a6f0c2d4e6b8a0c2e4")
    assert log.split_id("abcdef1790812800") == ("", "abcdef1790812800")
    # short counters and ids without six digits in a row split as before
    assert log.split_id("n002-tok-3-17") == ("n002-tok-3-", "17")
    assert log.split_id("x-12345678-y-1234567") == ("x-12345678-y-", "1234567")


@functools.cache
def _id_split_migration():
    path = next((Path(__file__).parents[3] / "migrations" / "versions").glob("*_issue17ingest_0002_*.py"))
    spec = importlib.util.spec_from_file_location("issue17ingest_0002", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    return migration


@given(ids)
def test_the_migration_moved_keys_to_the_rule_ingest_uses(event_id):
    assert _id_split_migration().new_split(event_id) == log.split_id(event_id)


def test_a_usage_row_keeps_nothing_of_its_data_in_rest_when_written_canonically():
    (record,) = validate_batch(
        [
            {
                "specversion": "1.0",
                "id": "n1-G1-1790812800",
                "source": "node/n1",
                "subject": "t-1",
                "time": "2026-10-01T00:05:00Z",
                "type": "gpu.usage",
                "data": {
                    "gpu": "G1",
                    "gpu_model": "H100-SXM",
                    "node": "n1",
                    "start": "2026-10-01T00:00:00Z",
                    "end": "2026-10-01T00:05:00+00:00",
                    "utilization": "0.83",
                    "contract_id": "c-1",
                },
            }
        ]
    )
    row, again = round_trip(record)
    columns = dict(zip(log.COLUMNS, row, strict=True))
    assert columns["rest"] is None and columns["utilization"] is None
    assert columns["util_pct"] == 83 and columns["span_s"] == 300
    assert columns["kind"] == log.KINDS["gpu"] | log.START_Z
    assert columns["id_suffix"] == "1790812800"
    assert again.data == record.data


def test_an_explicit_null_and_an_offset_instant_stay_in_rest():
    (record,) = validate_batch(
        [
            {
                "specversion": "1.0",
                "id": "e-1",
                "source": "s",
                "subject": "t-1",
                "time": "2026-10-01T08:05:00+08:00",
                "type": "gpu.usage",
                "data": {
                    "gpu": "G1",
                    "gpu_model": "H100-SXM",
                    "start": "2026-10-01T08:00:00+08:00",
                    "end": "2026-10-01T00:05:00.5Z",
                    "utilization": None,
                    "contract_id": None,
                },
            }
        ]
    )
    row, again = round_trip(record)
    assert dict(zip(log.COLUMNS, row, strict=True))["rest"] == {
        "start": "2026-10-01T08:00:00+08:00",
        "end": "2026-10-01T00:05:00.5Z",
        "utilization": None,
        "contract_id": None,
    }
    assert again == record


@given(st.one_of(st.text(max_size=6), st.from_regex(r"[01]\.[0-9٠-٩][0-9]", fullmatch=True)))
def test_a_utilisation_is_kept_in_hundredths_exactly_when_written_0_dd_or_1_00(value):
    expected = int(value.replace(".", "")) if re.fullmatch(r"0\.[0-9][0-9]|1\.00", value) else None
    assert log._percent(value) == expected
