"""The `sla` block of a capacity item: promised availability and credit tiers (SPEC §15) [pure].

Validated when a contract is signed (`parse_sla`); computed with in `billing.core.sla`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

SLA_FIELDS = frozenset({"availability", "credits"})
CREDIT_FIELDS = frozenset({"below", "rate"})


@dataclass(frozen=True)
class SlaCredit:
    """Below `below` availability, `rate` of the item's charges is credited."""

    below: Decimal
    rate: Decimal


@dataclass(frozen=True)
class Sla:
    """The promised `availability` and the credit tiers, thresholds strictly descending."""

    availability: Decimal
    credits: tuple[SlaCredit, ...] = ()

    def tier(self, measured: Fraction | Decimal) -> SlaCredit | None:
        """The lowest threshold `measured` is below (strictly), or None when it is below none."""
        crossed = [tier for tier in self.credits if measured < tier.below]
        return crossed[-1] if crossed else None

    def to_json(self) -> dict:
        return {
            "availability": str(self.availability),
            "credits": [{"below": str(c.below), "rate": str(c.rate)} for c in self.credits],
        }

    @classmethod
    def from_json(cls, data: Mapping) -> Sla:
        return cls(
            Decimal(data["availability"]),
            tuple(SlaCredit(Decimal(c["below"]), Decimal(c["rate"])) for c in data.get("credits", ())),
        )


def _fraction(value: object, field: str, problems: list[dict], *, low_open: bool = True) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        problems.append({"field": field, "reason": 'must be a decimal string such as "0.99"'})
        return None
    try:
        number = Decimal(value)
    except ArithmeticError:
        problems.append({"field": field, "reason": 'must be a decimal string such as "0.99"'})
        return None
    if not number.is_finite() or not (0 < number <= 1):
        problems.append({"field": field, "reason": "must be greater than 0 and at most 1"})
        return None
    return number


def parse_sla(raw: object, prefix: str) -> tuple[Sla | None, list[dict]]:
    """An Sla from its JSON, or the problems found (each naming its field under `prefix`, e.g.
    ``items[0].sla.credits[1].rate``): availability and each rate in (0, 1], each `below` in (0, 1],
    thresholds strictly descending."""
    problems: list[dict] = []
    if not isinstance(raw, Mapping):
        return None, [{"field": prefix, "reason": "must be an object with availability and credits"}]
    problems += [{"field": f"{prefix}.{k}", "reason": "unknown field"} for k in sorted(set(raw) - SLA_FIELDS)]
    availability = None
    if "availability" not in raw:
        problems.append({"field": f"{prefix}.availability", "reason": "is required"})
    else:
        availability = _fraction(raw["availability"], f"{prefix}.availability", problems)
    credits_raw = raw.get("credits", [])
    credits: list[SlaCredit] = []
    if not isinstance(credits_raw, list):
        problems.append({"field": f"{prefix}.credits", "reason": "must be a list of {below, rate}"})
        credits_raw = []
    for index, tier in enumerate(credits_raw):
        where = f"{prefix}.credits[{index}]"
        if not isinstance(tier, Mapping):
            problems.append({"field": where, "reason": "must be an object with below and rate"})
            continue
        problems += [{"field": f"{where}.{k}", "reason": "unknown field"} for k in sorted(set(tier) - CREDIT_FIELDS)]
        below = _fraction(tier.get("below"), f"{where}.below", problems) if "below" in tier else None
        rate = _fraction(tier.get("rate"), f"{where}.rate", problems) if "rate" in tier else None
        for key in ("below", "rate"):
            if key not in tier:
                problems.append({"field": f"{where}.{key}", "reason": "is required"})
        if below is not None and credits and below >= credits[-1].below:
            problems.append(
                {
                    "field": f"{where}.below",
                    "reason": f"thresholds must descend: {below} is not below {credits[-1].below}",
                }
            )
        if below is not None and rate is not None:
            credits.append(SlaCredit(below, rate))
    if problems:
        return None, problems
    return Sla(availability, tuple(credits)), []
