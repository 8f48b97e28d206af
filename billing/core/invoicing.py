"""Assemble a tenant's invoices for a closed period, and the adjustments of late usage (SPEC §7).

Closing period P issues one invoice per currency holding, in this order:
1. the period's charges, contract by contract (by id), in item order (`pricing.charges_for_period`);
2. one-off lines of terminations and partial terminations (reducing amendments) effective in P;
3. adjustments for usage of earlier, already closed periods that arrived after their close,
   oldest period first, each labelled with its own period.
subtotal = Σ rounded line amounts, tax = Σ line taxes, total = subtotal + tax. A currency with no
line issues no invoice. Nothing here numbers or stores an invoice: that is the close service's job.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from billing.core.contracts import ContractState, before_amendment, before_termination
from billing.core.lines import ChargeLine, charge_line
from billing.core.money import round_money, to_json
from billing.core.periods import Period, Zone
from billing.core.pricing import Usage, charges_for_period
from billing.core.terms import amendment_penalty_lines, termination_lines
from kashi.errors import ValidationFailed

PERIOD_KINDS = frozenset({"machine_month", "p_year", "gpu_hour", "gpu_hour_shortfall", "token", "sla_credit"})
"""Line kinds that depend only on the period's terms and usage: what an adjustment recomputes."""
ONE_OFF_KINDS = frozenset({"penalty", "notice_in_lieu"})


@dataclass(frozen=True)
class InvoiceDraft:
    """An invoice before it has a number: one tenant, one period, one currency (SPEC §7)."""

    tenant_id: str
    period: Period
    currency: str
    lines: tuple[ChargeLine, ...]
    subtotal: Decimal
    tax: Decimal
    total: Decimal

    def to_json(self) -> dict[str, Any]:
        """The SPEC §7 invoice JSON without `id`, `number` and `issued_at`, which issuing adds."""
        return {
            "tenant_id": self.tenant_id,
            "period": str(self.period),
            "currency": self.currency,
            "lines": [line.to_json() for line in self.lines],
            "subtotal": to_json(self.subtotal),
            "tax": to_json(self.tax),
            "total": to_json(self.total),
        }


def draft(tenant_id: str, period: Period, currency: str, lines: Iterable[ChargeLine]) -> InvoiceDraft:
    """An InvoiceDraft whose totals are the sums of its rounded lines."""
    lines = tuple(lines)
    subtotal = sum((line.amount for line in lines), Decimal("0.00"))
    tax = sum((line.tax for line in lines), Decimal("0.00"))
    return InvoiceDraft(tenant_id, period, currency, lines, subtotal, tax, subtotal + tax)


def one_off_lines(state: ContractState, period: Period, tz: Zone) -> list[ChargeLine]:
    """Penalty and notice-in-lieu lines of `state` that take effect in `period` (SPEC §4, §6).

    Each is priced on the contract as it stood before the change, so the invoice repeats the quote.
    """
    start, end = period.start(tz), period.end(tz)
    lines: list[ChargeLine] = []
    for amendment in state.amendments:
        if start <= amendment.effective_at < end:
            before = before_amendment(state, amendment)
            lines.extend(
                amendment_penalty_lines(before, amendment.item_id, amendment.changes, amendment.effective_at, tz)
            )
    if state.terminated_at is not None and start <= state.terminated_at < end:
        lines.extend(termination_lines(before_termination(state), state.terminated_at, state.notice_given_at, tz))
    return lines


def assemble_invoices(
    tenant_id: str,
    period: Period,
    tz: Zone,
    contract_states: Iterable[ContractState],
    usage: Usage | None = None,
    terminations: Iterable[ChargeLine] | None = None,
    adjustments: Iterable[ChargeLine] = (),
    credits: Iterable[ChargeLine] = (),
) -> list[InvoiceDraft]:
    """The drafts of closing `period` for `tenant_id`, one per currency, sorted by currency.

    contract_states: the tenant's contracts (others' are ignored); for a supplier bill, `tenant_id`
    is the supplier's id and the states its payable contracts. usage: the period's rated usage
    (`rating.rate_period(...).usage`). terminations: the one-off lines to bill; None derives them
    from the states (`one_off_lines`). adjustments: lines from `adjustment_lines` for earlier periods.
    """
    states = sorted((s for s in contract_states if s.terms.party_id == tenant_id), key=lambda s: s.id)
    period_lines = [line for state in states for line in charges_for_period(state, period, tz, usage)]
    if terminations is None:
        one_offs = [line for state in states for line in one_off_lines(state, period, tz)]
    else:
        one_offs = sorted(terminations, key=lambda line: (line.contract_id, line.item_id or "", line.period_start))
    late = sorted(adjustments, key=lambda line: (line.period_start, line.contract_id, line.item_id or ""))
    by_currency: dict[str, list[ChargeLine]] = defaultdict(list)
    for line in [*period_lines, *credits, *one_offs, *late]:
        by_currency[line.currency].append(line)
    return [draft(tenant_id, period, currency, by_currency[currency]) for currency in sorted(by_currency)]


def adjustment_lines(
    closed_period: Period,
    charged_lines: Iterable[ChargeLine],
    recomputed_lines: Iterable[ChargeLine],
    tz: Zone,
) -> list[ChargeLine]:
    """Per item, what `closed_period` comes to with the late usage minus what was already charged (SPEC §7).

    charged_lines: every line already invoiced for that period — its own invoice and any earlier
        adjustment lines for it. recomputed_lines: `charges_for_period` of that period with all its
        usage, late included. Penalty and notice lines are not recomputed and are ignored on both sides.
    One `adjustment` line per (contract, item) whose totals differ, spanning the closed period, so
    late hours that the commitment shortfall already paid for net to zero and give no line.
    """
    start, end = closed_period.start(tz), closed_period.end(tz)
    charged: dict[tuple[str, str | None], Decimal] = defaultdict(Decimal)
    recomputed: dict[tuple[str, str | None], Decimal] = defaultdict(Decimal)
    sample: dict[tuple[str, str | None], ChargeLine] = {}
    for line in charged_lines:
        if line.kind in PERIOD_KINDS or line.kind == "adjustment":
            charged[(line.contract_id, line.item_id)] += line.amount
            sample.setdefault((line.contract_id, line.item_id), line)
    for line in recomputed_lines:
        if line.kind == "adjustment":
            raise ValidationFailed.of("recomputed_lines", "must be the period's own charges, not adjustments")
        if line.kind in PERIOD_KINDS:
            recomputed[(line.contract_id, line.item_id)] += line.amount
            sample[(line.contract_id, line.item_id)] = line
    lines = []
    for key in sorted(set(charged) | set(recomputed), key=lambda key: (key[0], key[1] or "")):
        difference = recomputed[key] - charged[key]
        if difference:
            like = sample[key]
            description = (
                f"Adjustment for {closed_period} (usage or contracts recorded after its close): recomputed "
                f"{to_json(recomputed[key])} − charged {to_json(charged[key])}"
            )
            lines.append(
                charge_line(
                    kind="adjustment",
                    contract_id=like.contract_id,
                    item_id=like.item_id,
                    description=description,
                    quantity=1,
                    unit="adjustment",
                    unit_price=difference,
                    exact_amount=round_money(difference),
                    tax_rate=like.tax_rate,
                    period_start=start,
                    period_end=end,
                    currency=like.currency,
                )
            )
    return lines
