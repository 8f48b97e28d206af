"""GPU collectors, one module per source; each offers ``collect() -> list[GpuSample]``.

`dcgm` (DCGM exporter page), `nvidia_smi` (CSV query), `nvml` (pynvml, when importable),
`ascend` (Huawei npu-exporter page). `tokens` reads inference servers' token counters.
Parsers are pure functions of the recorded text, so tests run on fixtures.
"""
