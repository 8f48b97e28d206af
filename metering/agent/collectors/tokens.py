"""Token counters of an inference server's Prometheus page (vLLM, SGLang).

vLLM: ``vllm:prompt_tokens_total`` and ``vllm:generation_tokens_total`` labelled ``model_name``
and, since the V1 engine, ``engine`` (one series per engine: they are summed later, after each
series' own delta, so one engine restarting cannot hide another's tokens); cached prompt
tokens from ``vllm:prompt_tokens_cached_total`` or else ``vllm:prefix_cache_hits_total``.
SGLang: ``sglang:prompt_tokens_total``, ``sglang:generation_tokens_total``,
``sglang:cached_tokens_total`` (recent builds split these by ``cache_source``, ``is_streaming``…).

When a counter was created is read from its ``*_created`` sample (prometheus-client exports one
per counter series), else from ``process_start_time_seconds``: a counter created after the
agent's previous scrape is counted from zero rather than taken as a baseline.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from metering.agent.collectors.base import http_fetcher, parse_prometheus

log = logging.getLogger("kashi.agent.collectors.tokens")

KINDS: dict[str, str] = {
    "vllm:prompt_tokens_total": "prompt",
    "vllm:generation_tokens_total": "output",
    "vllm:prompt_tokens_cached_total": "cached",
    "vllm:prefix_cache_hits_total": "cached_fallback",
    "sglang:prompt_tokens_total": "prompt",
    "sglang:generation_tokens_total": "output",
    "sglang:cached_tokens_total": "cached",
}


def series_key(kind: str, model: str, labels: dict[str, str]) -> str:
    """A stable text key for one counter series: kind, model, and its other labels."""
    rest = {k: v for k, v in labels.items() if k not in ("model_name", "name")}
    return json.dumps([kind, model, sorted(rest.items())], separators=(",", ":"))


def key_kind_model(key: str) -> tuple[str, str]:
    kind, model, _ = json.loads(key)
    return kind, model


def parse(text: str, origin: str = "tokens") -> dict[str, float]:
    """Current value of every token counter series on the page, by `series_key`."""
    samples = [s for s in parse_prometheus(text, origin) if s.name in KINDS]
    has_cached = any(KINDS[s.name] == "cached" for s in samples)
    out: dict[str, float] = {}
    for s in samples:
        kind = KINDS[s.name]
        if kind == "cached_fallback":
            if has_cached:
                continue
            kind = "cached"
        model = s.labels.get("model_name") or s.labels.get("name") or "unknown"
        out[series_key(kind, model, s.labels)] = s.value
    return out


def parse_created(text: str, origin: str = "tokens") -> dict[str, float]:
    """When each token counter series started (epoch seconds), by `series_key`.

    From the series' ``*_created`` sample, else the page's ``process_start_time_seconds``.
    """
    samples = parse_prometheus(text, origin)
    counters = parse(text, origin)
    created: dict[str, float] = {}
    start = next((s.value for s in samples if s.name == "process_start_time_seconds"), None)
    cached_names = {n for n, k in KINDS.items() if k == "cached"}
    has_cached = any(s.name in cached_names for s in samples)
    for s in samples:
        if not s.name.endswith("_created"):
            continue
        kind = KINDS.get(s.name.removesuffix("_created") + "_total")
        if kind is None or (kind == "cached_fallback" and has_cached):
            continue
        kind = "cached" if kind == "cached_fallback" else kind
        model = s.labels.get("model_name") or s.labels.get("name") or "unknown"
        created[series_key(kind, model, s.labels)] = s.value
    if start is not None:
        for key in counters:
            created.setdefault(key, start)
    return created


class TokenCounterReader:
    """Reads one inference server's counters (``collect() -> {series_key: value}``)."""

    def __init__(self, url: str, fetch: Callable[[], str] | None = None) -> None:
        self.url = url
        self._fetch = fetch or http_fetcher(url)

    def collect(self) -> dict[str, float]:
        return parse(self._fetch(), self.url)

    def collect_with_created(self) -> tuple[dict[str, float], dict[str, float]]:
        """The counters and when each was created (see `parse_created`), from one scrape."""
        text = self._fetch()
        return parse(text, self.url), parse_created(text, self.url)
