from billing_kit import SHANGHAI, at, capacity, card_hours, machines, payload, sign, terminate, tokens

from billing.core.periods import Period
from billing.core.rating import (
    Capacity,
    GpuRollupRow,
    Rated,
    TokenRollupRow,
    Unrated,
    rate_gpu,
    rate_period,
    rate_tokens,
)

OCTOBER = Period(2026, 10)


def _hourly_and_rented():
    hourly = sign(payload(card_hours(committed=None), card_hours(item_id="i-9", model="RTX-4090"), id="c-hourly"))
    rented = sign(payload(machines(), id="c-rented", start="2026-03-01T00:00:00+08:00"))
    return hourly, rented


def test_gpu_usage_goes_to_the_gpu_hour_item_of_its_model():
    hourly, rented = _hourly_and_rented()
    assert rate_gpu([hourly, rented], "H100-SXM", None, at("2026-10-03"), SHANGHAI) == Rated("c-hourly", "i-3")


def test_usage_on_rented_machines_is_capacity_not_charged_again():
    hourly, rented = _hourly_and_rented()
    assert rate_gpu([hourly, rented], "RTX-4090", None, at("2026-10-03"), SHANGHAI) == Capacity("c-rented", "i-1")


def test_naming_a_contract_picks_its_item():
    hourly, rented = _hourly_and_rented()
    assert rate_gpu([hourly, rented], "RTX-4090", "c-hourly", at("2026-10-03"), SHANGHAI) == Rated("c-hourly", "i-9")
    assert isinstance(rate_gpu([hourly, rented], "H100-SXM", "c-rented", at("2026-10-03"), SHANGHAI), Unrated)
    assert isinstance(rate_gpu([hourly, rented], "H100-SXM", "c-other", at("2026-10-03"), SHANGHAI), Unrated)


def test_usage_matching_nothing_is_unrated_with_a_reason():
    hourly, rented = _hourly_and_rented()
    assert rate_gpu([hourly, rented], "A800", None, at("2026-10-03"), SHANGHAI) == Unrated(
        "no active item for GPU model A800"
    )
    assert isinstance(rate_gpu([hourly], "H100-SXM", None, at("2025-10-03"), SHANGHAI), Unrated)


def test_usage_after_a_termination_is_unrated():
    hourly = terminate(sign(payload(card_hours())), at("2026-10-10"))
    assert rate_gpu([hourly], "H100-SXM", None, at("2026-10-09T23:00"), SHANGHAI) == Rated("c-1", "i-3")
    assert isinstance(rate_gpu([hourly], "H100-SXM", None, at("2026-10-10"), SHANGHAI), Unrated)


def test_a_pool_of_p_without_model_covers_models_nothing_else_matches():
    pool = sign(payload(capacity(), card_hours()))
    assert rate_gpu([pool], "Ascend-910B", None, at("2026-10-03"), SHANGHAI) == Capacity("c-1", "i-2")
    assert rate_gpu([pool], "H100-SXM", None, at("2026-10-03"), SHANGHAI) == Rated("c-1", "i-3")


def test_ties_go_to_the_earlier_contract_then_the_smaller_id():
    later = sign(payload(card_hours(), id="c-a", start="2026-05-01T00:00:00+08:00"))
    earlier = sign(payload(card_hours(), id="c-b", start="2026-02-01T00:00:00+08:00"))
    twin = sign(payload(card_hours(), id="c-0", start="2026-02-01T00:00:00+08:00"))
    assert rate_gpu([later, earlier], "H100-SXM", None, at("2026-10-03"), SHANGHAI) == Rated("c-b", "i-3")
    assert rate_gpu([later, earlier, twin], "H100-SXM", None, at("2026-10-03"), SHANGHAI) == Rated("c-0", "i-3")


def test_tokens_go_to_their_model_item_before_a_wildcard():
    both = sign(payload(tokens("*", "i-any"), tokens("qwen2.5-72b", "i-qwen")))
    assert rate_tokens([both], "qwen2.5-72b", None, at("2026-10-03"), SHANGHAI) == Rated("c-1", "i-qwen")
    assert rate_tokens([both], "deepseek-v3", None, at("2026-10-03"), SHANGHAI) == Rated("c-1", "i-any")
    only_qwen = sign(payload(tokens()))
    assert isinstance(rate_tokens([only_qwen], "deepseek-v3", None, at("2026-10-03"), SHANGHAI), Unrated)


def test_rate_period_totals_rollup_rows_per_item_and_keeps_the_unrated():
    hourly, rented = _hourly_and_rented()
    wildcard = sign(payload(tokens("*"), id="c-tokens"))
    hour = int(at("2026-10-03T10:00").timestamp())
    gpu_rows = [
        GpuRollupRow.of("tenant-a", "", "H100-SXM", hour, 3600),
        GpuRollupRow.of("tenant-a", None, "H100-SXM", hour + 3600, 1800),
        GpuRollupRow.of("tenant-a", "", "RTX-4090", hour, 7200),
        GpuRollupRow.of("tenant-a", "", "A800", hour, 900),
        GpuRollupRow.of("tenant-a", "", "H100-SXM", int(at("2026-11-01").timestamp()), 3600),  # November
        GpuRollupRow.of("tenant-b", "", "H100-SXM", hour, 3600),  # another tenant's contract is not ours
    ]
    token_rows = [
        TokenRollupRow.of("tenant-a", "", "qwen2.5-72b", "input", hour, 1000),
        TokenRollupRow.of("tenant-a", "", "qwen2.5-72b", "input", hour + 3600, 500),
        TokenRollupRow.of("tenant-a", "", "qwen2.5-72b", "output", hour, 200),
    ]
    rated = rate_period([hourly, rented, wildcard], OCTOBER, SHANGHAI, gpu_rows, token_rows)
    assert rated.usage.card_seconds == {("c-hourly", "i-3"): 5400}
    assert rated.usage.tokens == {("c-tokens", "i-4", "input"): 1500, ("c-tokens", "i-4", "output"): 200}
    assert rated.capacity_card_seconds == {("c-rented", "i-1"): 7200}
    assert rated.unrated_gpu == (gpu_rows[3], gpu_rows[5])
    assert rated.unrated_tokens == ()


def test_a_contract_starting_mid_hour_rates_that_hour():
    state = sign(payload(card_hours(), start="2026-10-03T10:30:00+08:00"))
    row = GpuRollupRow.of("tenant-a", "", "H100-SXM", at("2026-10-03T10:00"), 1800)
    assert rate_period([state], OCTOBER, SHANGHAI, [row]).usage.card_seconds == {("c-1", "i-3"): 1800}
