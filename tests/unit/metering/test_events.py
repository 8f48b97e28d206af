"""CloudEvents validation (SPEC §3): whole batches, every bad index and field named."""

import pytest

from metering.events import BatchRejected, validate_batch
from metering.rollups import Covered, claim, gpu_rollup, token_rollup


def gpu(n=1, **data):
    base = {
        "gpu": "G",
        "gpu_model": "RTX-4090",
        "start": "2026-10-01T00:00:00+08:00",
        "end": "2026-10-01T01:00:00+08:00",
    }
    return {
        "specversion": "1.0",
        "id": str(n),
        "source": "node/n7",
        "type": "gpu.usage",
        "subject": "tenant-a",
        "time": "2026-10-01T01:00:00+08:00",
        "data": {**base, **data},
    }


def tokens(n=1, **data):
    base = {"model": "qwen2.5-72b", "input_tokens": 1200, "output_tokens": 300, "cached_tokens": 0}
    return {
        "specversion": "1.0",
        "id": f"t{n}",
        "source": "svc/vllm-1",
        "type": "llm.tokens",
        "subject": "tenant-b",
        "time": "2026-10-03T12:00:00Z",
        "data": {**base, **data},
    }


def problems(batch):
    with pytest.raises(BatchRejected) as caught:
        validate_batch(batch)
    return {(d["index"], d["field"]) for d in caught.value.details}


def test_spec_examples_validate_to_records_in_utc_seconds():
    g, t = validate_batch([gpu(utilization="0.83", contract_id="c-1"), tokens()])
    assert (g.kind, g.start, g.end - g.start, g.contract_id) == ("gpu", 1790784000, 3600, "c-1")
    assert (t.kind, t.tokens) == ("tokens", {"input": 1200, "output": 300, "cached": 0})


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (gpu(end="2026-09-30T23:00:00+08:00"), "data.end"),
        (gpu(end="2026-10-02T01:00:00+08:00"), "data.end"),
        (gpu(start="2026-10-01T00:00:00"), "data.start"),
        (gpu(utilization=0.5), "data.utilization"),
        (gpu(utilization="1.5"), "data.utilization"),
        (gpu(utilization="1."), "data.utilization"),  # a point needs digits after it, as "0." does
        (gpu(utilization="0."), "data.utilization"),
        (tokens(input_tokens=-1), "data.input_tokens"),
        (tokens(input_tokens=1.0), "data.input_tokens"),
        (tokens(input_tokens=0, output_tokens=0), "data"),
        ({**gpu(), "specversion": "0.3"}, "specversion"),
        ({**gpu(), "type": "gpu.other"}, "type"),
    ],
)
def test_each_bad_event_is_named_by_index_and_field(event, field):
    assert problems([gpu(0), event]) == {(1, field)}


def test_all_problems_of_a_batch_are_listed_at_once():
    assert problems([gpu(utilization=0.1), gpu(2), tokens(output_tokens="x")]) == {
        (0, "data.utilization"),
        (2, "data.output_tokens"),
    }


@pytest.mark.parametrize("value", ["1.", "0.", "1.01", "01"])
def test_the_fast_path_refuses_the_utilizations_the_validator_refuses(value):
    import orjson

    from metering.ingest import parse_rows

    with pytest.raises(BatchRejected):
        parse_rows(orjson.dumps([gpu(1, utilization=value)]))
    assert parse_rows(orjson.dumps([gpu(1, utilization="1.00")]))[1] == 1


def test_utilization_may_be_absent_or_null():
    assert len(validate_batch([gpu(1, utilization=None), gpu(2)])) == 2


def test_a_repeat_inside_one_batch_is_kept_once():
    assert len(validate_batch([gpu(1), gpu(1), gpu(2)])) == 2


def test_claim_bills_the_first_persisted_and_records_the_other_tenant_as_conflict():
    first, second = validate_batch(
        [gpu(1), {**gpu(2, start="2026-10-01T00:30:00+08:00", end="2026-10-01T01:30:00+08:00"), "subject": "tenant-b"}]
    )
    pieces, conflicts = claim([(2, second), (1, first)], {})
    assert [(p.tenant_id, p.end - p.start) for p in pieces] == [("tenant-a", 3600), ("tenant-b", 1800)]
    assert [(c.tenant_id, c.holder_tenant_id, c.end - c.start) for c in conflicts] == [("tenant-b", "tenant-a", 1800)]
    assert sum(gpu_rollup(pieces).values()) == 5400


def test_claim_respects_what_was_counted_before():
    (rec,) = validate_batch([gpu(1)])
    pieces, conflicts = claim([(9, rec)], {"G": [Covered(rec.start, rec.start + 600, "tenant-a")]})
    assert [(p.start - rec.start, p.end - rec.start) for p in pieces] == [(600, 3600)] and not conflicts


def test_token_rollup_per_model_and_hour_a_count_per_kind():
    assert token_rollup(validate_batch([tokens(1), tokens(2, cached_tokens=5)])) == {
        ("tenant-b", "", "qwen2.5-72b", 1791028800): [2400, 600, 5],
    }


@pytest.mark.parametrize(
    "instant",
    [1790784000, 1790784000.5, "1790784000", "2026-10-01T01:00:00+0800", "2026-10-01T01:00Z", "2026-10-01 01:00:00Z"],
)
def test_an_instant_that_is_not_rfc_3339_with_an_offset_is_refused_where_it_was_sent(instant):
    with pytest.raises(BatchRejected) as caught:
        validate_batch([gpu(1, start=instant), tokens(2) | {"time": instant}])
    reason = "must be an RFC 3339 instant with an offset, like 2026-10-01T08:00:00+08:00"
    found = {(d["index"], d["field"], d["reason"]) for d in caught.value.details}
    assert found == {(0, "data.start", reason), (1, "time", reason)}


@pytest.mark.parametrize(
    "instant", ["2026-10-01t01:00:00z", "2026-10-01T01:00:00.5+08:00", "2026-10-01T01:00:00.123456-05:30"]
)
def test_rfc_3339_forms_beyond_the_plain_one_are_taken(instant):
    (record,) = validate_batch([tokens(1) | {"time": instant}])
    assert record.time > 0


def test_an_unknown_field_in_data_is_refused_by_name_and_cloudevents_attributes_are_not():
    with pytest.raises(BatchRejected) as caught:
        validate_batch([gpu(1, rack="r7"), tokens(2, foo=1)])
    assert [(d["index"], d["field"], d["reason"]) for d in caught.value.details] == [
        (0, "data.rack", "unknown field"),
        (1, "data.foo", "unknown field"),
    ]
    (record,) = validate_batch([gpu(1) | {"datacontenttype": "application/json", "traceparent": "00-ab-cd-01"}])
    assert record.gpu == "G"
