"""The GPU catalog: FP16 dense tensor TFLOPS per card, with its source (SPEC §2, §4).

Capacity sold per P per year (P = 1 PFLOPS of FP16 dense tensor compute) is measured on this
scale, so a heterogeneous fleet — domestic accelerators mixed with NVIDIA — prices on one line.

The figure is the *dense* FP16 tensor throughput with FP32 accumulate, the number vendors print
before the "with sparsity" doubling. For GeForce cards (RTX-4090) FP32 accumulate runs at half the
FP16-accumulate rate; the FP32-accumulate figure is the one comparable with data-centre cards.
Operators add models (POST /v1/gpu-models) with `Catalog.with_model`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

from kashi.errors import UnknownGpuModel, ValidationFailed


@dataclass(frozen=True)
class GpuModel:
    """One accelerator model.

    name: the name agents report in `gpu_model` ("RTX-4090"), matched exactly.
    fp16_tflops: FP16 dense tensor TFLOPS of one card.
    source: where the figure comes from, for the operator who has to defend it.
    """

    name: str
    fp16_tflops: Decimal
    source: str

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValidationFailed.of("name", "must be a non-empty string")
        if not isinstance(self.fp16_tflops, Decimal) or not self.fp16_tflops > 0:
            raise ValidationFailed.of("fp16_tflops", "must be a positive Decimal")


def _model(name: str, tflops: str, source: str) -> GpuModel:
    return GpuModel(name, Decimal(tflops), source)


DEFAULT_MODELS: tuple[GpuModel, ...] = (
    _model("B200", "2250", "NVIDIA HGX B200 specifications: FP16/BF16 4.5 PFLOPS with sparsity, 2.25 dense"),
    _model("H200", "989.5", "NVIDIA H200 datasheet (SXM): FP16 tensor 1,979 TFLOPS with sparsity"),
    _model("H100-SXM", "989.5", "NVIDIA H100 datasheet (SXM5): FP16 tensor 1,979 TFLOPS with sparsity"),
    _model("H100-PCIe", "756.5", "NVIDIA H100 datasheet (PCIe): FP16 tensor 1,513 TFLOPS with sparsity"),
    _model("H800", "989.5", "NVIDIA H800 (SXM): the H100 SXM compute with reduced NVLink; 1,979 sparse"),
    _model("H20", "148", "NVIDIA H20 product brief: FP16/BF16 tensor 148 TFLOPS dense, 296 sparse"),
    _model("A100", "312", "NVIDIA A100 datasheet: FP16 tensor 312 TFLOPS dense, 624 with sparsity"),
    _model("A800", "312", "NVIDIA A800 datasheet: FP16 tensor 312 TFLOPS dense, 624 with sparsity"),
    _model("L40S", "362.05", "NVIDIA L40S datasheet: FP16 tensor 362.05 TFLOPS dense, 733 with sparsity"),
    _model("L20", "119.5", "NVIDIA L20 product brief: FP16 tensor 119.5 TFLOPS dense, 239 with sparsity"),
    _model("L4", "121", "NVIDIA L4 datasheet: FP16 tensor 242 TFLOPS with sparsity, 121 dense"),
    _model("A10", "125", "NVIDIA A10 datasheet: FP16 tensor 125 TFLOPS dense, 250 with sparsity"),
    _model(
        "RTX-4090",
        "165.2",
        "NVIDIA Ada Lovelace architecture whitepaper: FP16 tensor with FP32 accumulate 165.2 TFLOPS dense "
        "(330.3 with FP16 accumulate)",
    ),
    _model("Ascend-910B", "320", "Huawei Ascend 910B published FP16 figure, 320 TFLOPS"),
    # Names the node agent maps driver names to (metering/agent/gpu_models.py), so none arrives unrated.
    _model(
        "GB200",
        "2500",
        "NVIDIA GB200 NVL72 specifications: FP16/BF16 tensor 360 PFLOPS dense per 72 GPUs, "
        "2.5 PFLOPS per Blackwell GPU (5 with sparsity)",
    ),
    _model("H200-NVL", "835.5", "NVIDIA H200 datasheet (NVL): FP16 tensor 1,671 TFLOPS with sparsity"),
    _model("H100-NVL", "835.5", "NVIDIA H100 datasheet (NVL): FP16 tensor 1,671 TFLOPS with sparsity"),
    _model("H800-PCIe", "756.5", "NVIDIA H800 PCIe: the H100 PCIe compute with reduced NVLink; 1,513 sparse"),
    _model("L40", "181.05", "NVIDIA L40 datasheet: FP16 tensor 181.05 TFLOPS dense, 362.1 with sparsity"),
    _model(
        "A10G",
        "70",
        "AWS EC2 G5 (NVIDIA A10G, no public NVIDIA datasheet): FP16 tensor 70 TFLOPS dense "
        "as commonly published for A10G; verify against the provider's figure",
    ),
    _model("A30", "165", "NVIDIA A30 datasheet: FP16 tensor 165 TFLOPS dense, 330 with sparsity"),
    _model("A40", "149.7", "NVIDIA A40 datasheet: FP16 tensor 149.7 TFLOPS dense, 299.4 with sparsity"),
    _model("T4", "65", "NVIDIA T4 datasheet: mixed-precision (FP16/FP32) tensor 65 TFLOPS (no sparsity on Turing)"),
    _model("V100", "125", "NVIDIA V100 datasheet (SXM2): tensor 125 TFLOPS (no sparsity on Volta)"),
    _model("V100-PCIe", "112", "NVIDIA V100 datasheet (PCIe): tensor 112 TFLOPS (no sparsity on Volta)"),
    _model("P100", "18.7", "NVIDIA P100 datasheet (PCIe): FP16 18.7 TFLOPS (Pascal has no tensor cores)"),
    _model("P100-SXM2", "21.2", "NVIDIA P100 datasheet (SXM2): FP16 21.2 TFLOPS (Pascal has no tensor cores)"),
    _model(
        "RTX-3090",
        "71",
        "NVIDIA Ampere GA102 whitepaper (RTX 3090): FP16 tensor with FP32 accumulate "
        "71 TFLOPS dense (142 with FP16 accumulate)",
    ),
    _model("RTX-4090D", "147.1", "Derived: the RTX-4090 figure x 114/128 SMs (RTX 4090 D, same 2,520 MHz boost)"),
    _model(
        "RTX-5090",
        "209.5",
        "NVIDIA RTX Blackwell architecture whitepaper (RTX 5090): FP16 tensor with FP32 accumulate 209.5 TFLOPS dense",
    ),
    _model("Ascend-910A", "256", "Huawei Ascend 910 launch specification (2019): FP16 256 TFLOPS"),
    _model(
        "Ascend-910B3",
        "313",
        "Huawei Ascend 910B variant figures as commonly published (B1 414, B2 376, "
        "B3 313, B4 280 TFLOPS FP16); no public Huawei datasheet per variant",
    ),
    _model(
        "Ascend-910C",
        "780",
        "Huawei Ascend 910C (two 910B-class dies): about 780 TFLOPS FP16/BF16 as reported; no public Huawei datasheet",
    ),
    _model("Ascend-310P", "70", "Huawei Atlas 300I Pro datasheet (Ascend 310P): FP16 70 TFLOPS"),
)
"""The models every Kashi knows; the figures are per card."""


@dataclass(frozen=True)
class Catalog:
    """An immutable name → GpuModel map. Build with `Catalog.of(models)`; extend with `with_model`."""

    models: Mapping[str, GpuModel] = field(default_factory=dict)

    @classmethod
    def of(cls, models: Iterable[GpuModel]) -> Catalog:
        return cls(MappingProxyType({model.name: model for model in models}))

    def with_model(self, model: GpuModel) -> Catalog:
        """A catalog with `model` added, or replacing the model of the same name."""
        return Catalog.of([*self.models.values(), model])

    def get(self, name: str) -> GpuModel:
        try:
            return self.models[name]
        except KeyError:
            raise UnknownGpuModel(name) from None

    def tflops(self, name: str) -> Decimal:
        """FP16 dense TFLOPS of one card of `name`; raises UnknownGpuModel."""
        return self.get(name).fp16_tflops

    def __contains__(self, name: object) -> bool:
        return name in self.models

    def __iter__(self) -> Iterator[GpuModel]:
        return iter(sorted(self.models.values(), key=lambda model: model.name))

    def __len__(self) -> int:
        return len(self.models)


DEFAULT_CATALOG = Catalog.of(DEFAULT_MODELS)


def capacity_p(machines: int, cards_per_machine: int, gpu_model: str, catalog: Catalog) -> Decimal:
    """P (PFLOPS of FP16 dense tensor) of `machines` machines of `cards_per_machine` cards (SPEC §4).

    `machines × cards_per_machine × TFLOPS(gpu_model) / 1000`, exact:
    60 × 8 × 165.2 / 1000 = 79.296 P for sixty 8×RTX-4090 machines.
    """
    return Decimal(machines * cards_per_machine) * catalog.tflops(gpu_model) / 1000
