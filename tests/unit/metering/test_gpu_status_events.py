"""`gpu.status` (SPEC §15) passes batch validation, is kept apart from billed usage, and is checked."""

import pytest

from metering.events import BatchRejected, UsageRecord, validate_batch


def _status(**data):
    return {
        "specversion": "1.0",
        "id": "n7-GPU-1-status-1790784000",
        "source": "node/n7",
        "type": "gpu.status",
        "time": "2026-10-01T00:01:00+08:00",
        "data": {
            "node": "n7",
            "gpu": "GPU-1",
            "gpu_model": "H100-SXM",
            "state": "idle",
            "start": "2026-10-01T00:00:00+08:00",
            "end": "2026-10-01T00:01:00+08:00",
            **data,
        },
    }


def test_idle_status_without_subject_is_a_status_record_with_no_tenant_and_its_window():
    (record,) = validate_batch([_status()])
    assert (record.kind, record.tenant_id, record.gpu, record.start, record.end) == (
        "status",
        "",
        "GPU-1",
        1790784000,
        1790784060,
    )
    assert (
        UsageRecord.from_log("gpu.status", "node/n7", record.id, "", record_time(record), None, record.data) == record
    )


def record_time(record):
    from datetime import UTC, datetime

    return datetime.fromtimestamp(record.time, UTC)


def test_unknown_state_and_backwards_interval_are_refused():
    with pytest.raises(BatchRejected) as caught:
        validate_batch([_status(state="lit"), _status(end="2026-09-30T23:59:00+08:00")])
    assert [(d["index"], d["field"]) for d in caught.value.details] == [(0, "data.state"), (1, "data.end")]
