"""Rating: which contract item a piece of usage is billed to (SPEC §3).

GPU usage of model M, optionally naming a contract, at an instant:
1. a `machine_month` or `p_year` item of model M in force → `Capacity` (already paid: kept for
   utilisation, never charged again);
2. else a `gpu_hour` item of model M → `Rated`;
3. else a `p_year` item without a model (a heterogeneous capacity pool) → `Capacity`;
4. else `Unrated` (kept, visible to operators, rated again at every close — never dropped).
Capacity comes first so a card that is already rented by the month is never charged by the hour as
well; a tenant holding both for one model has its hourly nodes name the contract.

Token usage of model M: a `token` item of model M, else a `"*"` item, else `Unrated`.

Only contracts of the row's tenant count, only while their fees run, and only the named contract
when one is named. Ties break deterministically: earlier contract start first, then contract id,
then the item's position in the contract.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from billing.core.contracts import ContractState, GpuHourItem, MachineMonthItem, PYearItem, TokenItem
from billing.core.periods import Period, Zone
from billing.core.pricing import Usage
from billing.core.terms import fees_end
from metering.hourly import GpuRollupRow, TokenRollupRow

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Rated:
    """Charged to this item."""

    contract_id: str
    item_id: str


@dataclass(frozen=True)
class Capacity:
    """Covered by this capacity item: counted for utilisation, not charged."""

    contract_id: str
    item_id: str


@dataclass(frozen=True)
class Unrated:
    """Matches nothing yet; `reason` says why, for operators."""

    reason: str


Rating = Rated | Capacity | Unrated


def _candidates(
    states: Iterable[ContractState],
    tenant_id: str | None,
    contract_id: str | None,
    start: datetime,
    end: datetime,
    tz: Zone,
) -> list[ContractState]:
    """Contracts whose fees run at some instant of `[start, end)`, in tie-break order."""
    found = [
        state
        for state in states
        if (tenant_id is None or state.terms.tenant_id == tenant_id)
        and (contract_id is None or state.id == contract_id)
        and state.terms.start < end
        and fees_end(state, tz) > start
    ]
    return sorted(found, key=lambda state: (state.terms.start, state.id))


def rate_gpu(
    states: Iterable[ContractState],
    gpu_model: str,
    contract_id: str | None,
    at: datetime,
    tz: Zone,
    *,
    until: datetime | None = None,
    tenant_id: str | None = None,
) -> Rating:
    """Where GPU usage of `gpu_model` during `[at, until)` (or at the instant `at`) goes; see the module doc.

    contract_id: the contract the agent named, or None. tenant_id: when given, other tenants'
    contracts are ignored (the caller normally passes only the tenant's own).
    """
    contracts = _candidates(states, tenant_id, contract_id, at, until or at + timedelta(microseconds=1), tz)
    items = [(state, item) for state in contracts for item in state.items_at(at)]
    for state, item in items:
        if isinstance(item, MachineMonthItem | PYearItem) and item.gpu_model == gpu_model and item.monthly_value():
            return Capacity(state.id, item.id)
    for state, item in items:
        if isinstance(item, GpuHourItem) and item.gpu_model == gpu_model:
            return Rated(state.id, item.id)
    for state, item in items:
        if isinstance(item, PYearItem) and item.gpu_model is None and item.capacity_p:
            return Capacity(state.id, item.id)
    named = f" in contract {contract_id}" if contract_id else ""
    return Unrated(f"no active item for GPU model {gpu_model}{named}")


def rate_tokens(
    states: Iterable[ContractState],
    model: str,
    contract_id: str | None,
    at: datetime,
    tz: Zone,
    *,
    until: datetime | None = None,
    tenant_id: str | None = None,
) -> Rated | Unrated:
    """Where tokens of `model` counted at `at` (or during `[at, until)`) go: the model's item, else "*"."""
    contracts = _candidates(states, tenant_id, contract_id, at, until or at + timedelta(microseconds=1), tz)
    items = [(state, item) for state in contracts for item in state.items_at(at) if isinstance(item, TokenItem)]
    for wanted in (model, "*"):
        for state, item in items:
            if item.model == wanted:
                return Rated(state.id, item.id)
    named = f" in contract {contract_id}" if contract_id else ""
    return Unrated(f"no active token item for model {model}{named}")


def rating_boundaries(states: Iterable[ContractState], tz: Zone) -> list[datetime]:
    """Every instant at which the rating of a tenant's usage can change: contract starts, fee ends
    (term end or termination) and amendments taking effect, sorted. Usage is split at these (and at
    hours) before it is rated, so a stretch is never rated by what was in force at another instant."""
    instants = set()
    for state in states:
        instants.add(state.terms.start.astimezone(UTC))
        instants.add(fees_end(state, tz).astimezone(UTC))
        for versions in state.timelines.values():
            instants.update(v.effective_from.astimezone(UTC) for v in versions)
    return sorted(instants)


@dataclass(frozen=True)
class RatedUsage:
    """A period's usage sorted out: what is charged, what capacity covers, what matches nothing yet.

    usage: charged usage per item, for `pricing.charges_for_period`.
    capacity_card_seconds: (contract_id, item_id) → card-seconds under capacity items (utilisation).
    unrated_gpu / unrated_tokens: rows that matched no item, in input order.
    """

    usage: Usage
    capacity_card_seconds: dict[tuple[str, str], int]
    unrated_gpu: tuple[GpuRollupRow, ...]
    unrated_tokens: tuple[TokenRollupRow, ...]


def rate_period(
    states: Iterable[ContractState],
    period: Period,
    tz: Zone,
    gpu_rows: Iterable[GpuRollupRow] = (),
    token_rows: Iterable[TokenRollupRow] = (),
) -> RatedUsage:
    """Rate the hourly rollup rows whose hour starts inside `period`; other rows are ignored.

    A row is rated as usage during `[hour_start, until)` at `hour_start`'s items, so rows must not
    straddle a :func:`rating_boundaries` instant: the close cuts them there (hourly rollups that do
    straddle one are rated by what is in force at their start).
    """
    states = list(states)
    start, end = period.start(tz), period.end(tz)
    card_seconds: dict[tuple[str, str], int] = defaultdict(int)
    capacity: dict[tuple[str, str], int] = defaultdict(int)
    tokens: dict[tuple[str, str, str], int] = defaultdict(int)
    unrated_gpu, unrated_tokens = [], []
    for row in gpu_rows:
        if not start <= row.hour_start < end:
            continue
        rating = rate_gpu(
            states, row.gpu_model, row.contract_id, row.hour_start, tz, until=row.until, tenant_id=row.tenant_id
        )
        if isinstance(rating, Rated):
            card_seconds[(rating.contract_id, rating.item_id)] += row.card_seconds
        elif isinstance(rating, Capacity):
            capacity[(rating.contract_id, rating.item_id)] += row.card_seconds
        else:
            unrated_gpu.append(row)
    for row in token_rows:
        if not start <= row.hour_start < end:
            continue
        rating = rate_tokens(
            states, row.model, row.contract_id, row.hour_start, tz, until=row.until, tenant_id=row.tenant_id
        )
        if isinstance(rating, Rated):
            tokens[(rating.contract_id, rating.item_id, row.kind)] += row.tokens
        else:
            unrated_tokens.append(row)
    return RatedUsage(
        Usage(dict(card_seconds), dict(tokens)), dict(capacity), tuple(unrated_gpu), tuple(unrated_tokens)
    )
