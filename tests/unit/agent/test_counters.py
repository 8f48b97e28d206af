"""Token counter deltas: resets, engines, restarts (no negative, no double counts)."""

from metering.agent.collectors.tokens import series_key
from metering.agent.counters import deltas, per_model

P0 = series_key("prompt", "m", {"engine": "0"})
P1 = series_key("prompt", "m", {"engine": "1"})
O0 = series_key("output", "m", {"engine": "0"})
C0 = series_key("cached", "m", {"engine": "0"})


def test_first_scrape_is_a_baseline():
    assert deltas(None, {P0: 1e6, O0: 5e5}) == {P0: 0, O0: 0}


def test_growth_is_the_difference():
    assert deltas({P0: 100, O0: 10}, {P0: 150, O0: 12}) == {P0: 50, O0: 2}


def test_counter_reset_counts_the_new_value_not_a_negative():
    assert deltas({P0: 1000, O0: 400}, {P0: 30, O0: 5}) == {P0: 30, O0: 5}


def test_one_engine_resetting_does_not_hide_the_other():
    before = {P0: 1000, P1: 1000}
    after = {P0: 1100, P1: 50}  # engine 1 restarted; the sum 1150 would look like +150
    assert sum(deltas(before, after).values()) == 100 + 50


def test_new_series_after_the_first_scrape_is_all_new():
    assert deltas({P0: 10}, {P0: 10, P1: 7}) == {P0: 0, P1: 7}


def test_per_model_sums_engines_and_keeps_kinds_disjoint():
    result = per_model({P0: 100, P1: 50, O0: 20, C0: 60})
    assert result == {"m": (90, 20, 60)}  # input excludes the 60 cached tokens


def test_float_counters_round_to_whole_tokens():
    assert deltas({P0: 8.128902e06}, {P0: 8.128903e06}) == {P0: 1}


def test_a_series_created_after_the_previous_scrape_counts_from_zero():
    # the server restarted between scrapes and already served more than before: not a +50 delta
    assert deltas({P0: 1000}, {P0: 1050}, created={P0: 200.0}, since=100.0) == {P0: 1050}
    assert deltas({P0: 1000}, {P0: 1050}, created={P0: 50.0}, since=100.0) == {P0: 50}


def test_first_scrape_of_a_server_started_after_the_agent_is_not_a_baseline():
    assert deltas(None, {P0: 300, O0: 40}, created={P0: 200.0, O0: 200.0}, since=100.0) == {P0: 300, O0: 40}
    assert deltas(None, {P0: 300}, created={P0: 50.0}, since=100.0) == {P0: 0}
