"""The GPU catalog: models and their FP16 TFLOPS, with an optional list price."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from kashi.api.schemas.common import Answer, Body, Single


class GpuModelCreate(Body):
    """A GPU model the catalog lacks, or (naming a known model) its list price per card-hour."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "MI300X", "fp16_tflops": "1307.4", "source": "AMD Instinct MI300X data sheet"}]
        },
    )

    name: str = Field(description="The model name events and contracts use.", examples=["MI300X"])
    fp16_tflops: str | None = Field(
        None,
        description="Dense FP16 tensor TFLOPS (sizes p_year capacity); required for a new model.",
        examples=["1307.4"],
    )
    source: str | None = Field(
        None, description="Where the figure comes from; required for a new model.", examples=["AMD data sheet"]
    )
    list_price_per_card_hour: str | None = Field(
        None,
        description="CNY per card-hour, a decimal string: values idle capacity in the utilisation report. "
        "Naming a known model with it sets its price (200).",
        examples=["18.00"],
    )


class GpuModel(Answer):
    name: str = Field(description="The model name events and contracts use.", examples=["MI300X"])
    fp16_tflops: str = Field(description="Dense FP16 tensor TFLOPS.", examples=["1307.4"])
    source: str = Field(description="Where the figure comes from.", examples=["AMD Instinct MI300X data sheet"])
    builtin: bool = Field(description="Shipped with Kashi (true) or added by an operator.")
    list_price_per_card_hour: str | None = Field(
        None, description="CNY per card-hour, once an operator has set one.", examples=["18.00"]
    )


class GpuModels(Single):
    items: list[GpuModel] = Field(description="Every model, by name.")
