"""The fleet rollups of a batch (SPEC §15) [pure]: one hour split per piece, exact integer busy sums.

`fold_usage` / `fold_status` / `fleet_totals` must give every rollup row exactly what the previous
per-piece-hour fold of NamedTuples of Decimals gave: the same keys, seconds, and busy Decimals of the
same value *and* scale (``"2988.00"``, not ``"2988"``). That fold is short, so it is kept here as the
oracle, run with unbounded Decimal precision: the new sums are exact, where Decimal's default 28
digits rounded sums of utilizations with very many digits."""

from __future__ import annotations

from decimal import MAX_PREC, Decimal, localcontext
from typing import NamedTuple

from hypothesis import given
from hypothesis import strategies as st

from metering.events import UsageRecord
from metering.intervals import HOUR, split
from metering.rollups import Piece
from metering.status import (
    HourTotals,
    StatusPiece,
    exact,
    exact_decimal,
    fleet_totals,
    fold_status,
    fold_usage,
)


class _Old(NamedTuple):  # the fold before issue 17, verbatim in behaviour
    reported: int = 0
    down: int = 0
    allocated: int = 0
    busy: Decimal = Decimal(0)
    status_busy: Decimal = Decimal(0)

    def plus(self, other):
        return _Old(*(a + b for a, b in zip(self, other, strict=True)))


def _add(totals, key, **seconds):
    totals[key] = totals.get(key, _Old()).plus(_Old(**seconds))


def _old_fold(pieces, records, status_pieces, shard):
    by_gpu, by_node, by_tenant, seqs = {}, {}, {}, {}
    for p in pieces:
        rec = records[p.seq]
        value = rec.data.get("utilization")
        util = (None if value is None else Decimal(value)) or Decimal(0)
        node = rec.data.get("node") or ""
        for hour, seconds in split((p.start, p.end), HOUR):
            busy = util * seconds
            _add(by_gpu, (p.gpu, hour), allocated=seconds, busy=busy)
            _add(by_node, (node, p.gpu_model, hour), allocated=seconds, busy=busy)
            key = (p.tenant_id, p.contract_id or "", p.gpu_model, hour)
            _add(by_tenant, key, allocated=seconds, busy=busy)
            seqs[key] = max(seqs.get(key, 0), p.seq)
    for p in status_pieces:
        for hour, seconds in split((p.start, p.end), HOUR):
            down = seconds if p.state == "down" else 0
            busy = p.utilization * seconds if p.state == "allocated" and p.utilization is not None else Decimal(0)
            _add(by_gpu, (p.gpu, hour), reported=seconds, down=down, status_busy=busy)
            _add(by_node, (p.node, p.gpu_model, hour), reported=seconds, down=down, status_busy=busy)
    by_model = {}
    for (node, model, hour), t in by_node.items():
        key = (model, hour, shard(node))
        by_model[key] = by_model.get(key, _Old()).plus(t)
    return by_gpu, by_node, by_model, {k: (t.allocated, t.busy, seqs[k]) for k, t in by_tenant.items()}


def _text(totals):
    """Rows with every Decimal as its string: equal means same value and same scale."""
    return {k: tuple(str(v) for v in t) for k, t in totals.items()}


def _shard(node: str) -> int:
    return len(node) % 3


def _usage_record(seq, gpu, node, util):
    data = {"gpu": gpu, "gpu_model": "H100-SXM", "node": node}
    if util is not None:
        data["utilization"] = util
    return UsageRecord("gpu", "node/x", f"u{seq}", "t", 0.0, None, data, gpu, "H100-SXM", 0, 0)


utilizations = st.one_of(
    st.none(),
    st.sampled_from(["0", "1", "1.", "1.000", "0.5", ".5", "0.83", "0.830", "0.00", "0.000001"]),
    st.from_regex(r"0\.[0-9]{1,40}", fullmatch=True),  # many digits: Decimal's 28 would round some sums
)
usage_pieces = st.lists(
    st.tuples(
        st.sampled_from(["g1", "g2", "g3"]),
        st.sampled_from(["n1", "n2", ""]),
        st.sampled_from(["ta", "tb"]),
        st.sampled_from([None, "c1"]),
        st.integers(0, 4 * HOUR),
        st.integers(0, 2 * HOUR),
        utilizations,
    ),
    max_size=25,
)
status_pieces = st.lists(
    st.tuples(
        st.sampled_from(["g1", "g2", "g4"]),
        st.sampled_from(["n1", "n3"]),
        st.integers(0, 4 * HOUR),
        st.integers(1, 2 * HOUR),
        st.sampled_from(["idle", "allocated", "down"]),
        utilizations,
    ),
    max_size=15,
)


@given(usage_pieces, status_pieces)
def test_the_one_split_fold_gives_the_rows_of_the_per_piece_hour_fold_with_the_same_scale(raw_usage, raw_status):
    records, pieces = {}, []
    for seq, (gpu, node, tenant, contract, start, length, util) in enumerate(raw_usage, start=1):
        records[seq] = _usage_record(seq, gpu, node, util)
        pieces.append(Piece(seq, tenant, contract, gpu, "H100-SXM", start, start + length))
    status = [
        StatusPiece(100 + i, gpu, node, "A100-80G", start, start + length, state, None if u is None else Decimal(u))
        for i, (gpu, node, start, length, state, u) in enumerate(raw_status)
    ]
    new = fleet_totals(fold_usage(pieces, records), fold_status(status), _shard)
    with localcontext(prec=MAX_PREC):
        old_gpu, old_node, old_model, old_tenant = _old_fold(pieces, records, status, _shard)
    assert _text(new.by_gpu) == _text(old_gpu)
    assert _text(new.by_node) == _text(old_node)
    assert _text(new.by_model) == _text(old_model)
    assert _text(new.by_tenant) == _text(old_tenant)


def test_hand_computed_hour_split_and_busy_of_one_piece_across_an_hour():
    # 0.83 × 600 s in hour 0 and 0.83 × 1200 s in hour 3600; an empty piece adds no row
    records = {7: _usage_record(7, "g", "n", "0.83"), 8: _usage_record(8, "g", "n", "0.5")}
    pieces = [Piece(7, "t", None, "g", "H100-SXM", 3000, 4800), Piece(8, "t", None, "g", "H100-SXM", 5000, 5000)]
    totals = fleet_totals(fold_usage(pieces, records), {})
    assert totals.by_gpu == {
        ("g", 0): HourTotals(0, 0, 600, Decimal("498.00"), Decimal(0)),
        ("g", 3600): HourTotals(0, 0, 1200, Decimal("996.00"), Decimal(0)),
    }
    assert str(totals.by_tenant[("t", "", "H100-SXM", 3600)].busy) == "996.00"
    assert totals.by_tenant[("t", "", "H100-SXM", 0)].seq == 7


def test_busy_is_exact_past_decimal_precision():
    util = "0." + "9" * 40  # 40 digits: Decimal's default 28-digit context would round × 3599
    records = {1: _usage_record(1, "g", "n", util)}
    totals = fleet_totals(fold_usage([Piece(1, "t", None, "g", "H100-SXM", 0, 3599)], records), {})
    coefficient, exponent = exact(util)
    assert (coefficient, exponent) == (int("9" * 40), -40)
    assert totals.by_gpu[("g", 0)].busy == exact_decimal(coefficient * 3599, -40)
    assert str(totals.by_gpu[("g", 0)].busy) == "3598." + "9" * 36 + "6401"
