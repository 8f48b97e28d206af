import json
from decimal import Decimal

import pytest
from billing_kit import SHANGHAI, amend, at, capacity, card_hours, machines, payload, sign, terminate, tokens

from billing.core.catalog import DEFAULT_CATALOG, Catalog, GpuModel, capacity_p
from billing.core.contract_json import event_from_json, event_to_json
from billing.core.contract_payload import contract_from_payload, parse_amendment, parse_termination
from billing.core.contracts import (
    ContractAmended,
    ContractSigned,
    GpuHourItem,
    ItemChanges,
    MachineMonthItem,
    Penalty,
    PYearItem,
    TokenItem,
    fold,
)
from kashi.errors import ContractClosed, NotFound, UnknownGpuModel, ValidationFailed, VersionConflict

SPEC_PAYLOAD = {
    "id": "c-1",
    "tenant_id": "tenant-a",
    "currency": "CNY",
    "tax_rate": "0.06",
    "start": "2026-09-15T00:00:00+08:00",
    "closed_months": 36,
    "open_months": 24,
    "notice_days": 30,
    "penalty": {"basis": "remaining_closed_value", "rate": "0.20"},
    "items": [
        {
            "id": "i-1",
            "pricing": "machine_month",
            "gpu_model": "RTX-4090",
            "cards_per_machine": 8,
            "machines": 60,
            "unit_price": "5000.00",
        },
        {"id": "i-2", "pricing": "p_year", "capacity_p": "100", "unit_price": "120000.00"},
        {
            "id": "i-3",
            "pricing": "gpu_hour",
            "gpu_model": "H100-SXM",
            "unit_price": "12.50",
            "committed_card_hours": "1000",
        },
        {
            "id": "i-4",
            "pricing": "token",
            "model": "qwen2.5-72b",
            "input_price": "2.00",
            "output_price": "8.00",
            "cached_input_price": "0.50",
        },
    ],
}


def _fields(error: ValidationFailed) -> set[str]:
    return {detail["field"] for detail in error.details}


def test_the_spec_payload_becomes_typed_terms():
    terms = contract_from_payload(SPEC_PAYLOAD, DEFAULT_CATALOG, SHANGHAI)
    assert terms.start == at("2026-09-15")
    assert terms.tax_rate == Decimal("0.06")
    assert terms.penalty == Penalty(basis="remaining_closed_value", rate=Decimal("0.20"))
    assert terms.items == (
        MachineMonthItem(id="i-1", gpu_model="RTX-4090", machines=60, unit_price=Decimal("5000.00")),
        PYearItem(id="i-2", capacity_p=Decimal(100), unit_price=Decimal("120000.00")),
        GpuHourItem(id="i-3", gpu_model="H100-SXM", unit_price=Decimal("12.50"), committed_card_hours=Decimal(1000)),
        TokenItem(
            id="i-4",
            model="qwen2.5-72b",
            input_price=Decimal("2.00"),
            output_price=Decimal("8.00"),
            cached_input_price=Decimal("0.50"),
        ),
    )


def test_p_year_from_machines_derives_p_from_the_catalog():
    item = {"id": "i-1", "pricing": "p_year", "gpu_model": "RTX-4090", "machines": 60, "unit_price": "120000"}
    terms = contract_from_payload(payload(item), DEFAULT_CATALOG, SHANGHAI)
    assert terms.items[0].capacity_p == Decimal("79.296")
    assert capacity_p(60, 8, "RTX-4090", DEFAULT_CATALOG) == Decimal("79.296")
    assert capacity_p(10, 8, "H100-SXM", DEFAULT_CATALOG) == Decimal("79.16")


def test_every_bad_field_is_named_at_once():
    bad = payload(
        machines(unit_price=1.5),
        {"id": "i-2", "pricing": "p_year", "unit_price": "-1"},
        card_hours(model="H9000"),
        {"id": "i-1", "pricing": "leasing"},
        closed_months=0,
        open_months=0,
        currency="RMB",
        start="2026-01-01T00:00:00",
        tax_rate=0.06,
        penalty={"basis": "half", "rate": "0.2"},
        colour="blue",
    )
    with pytest.raises(ValidationFailed) as caught:
        contract_from_payload(bad, DEFAULT_CATALOG, SHANGHAI)
    assert _fields(caught.value) == {
        "items[0].unit_price",
        "items[1].unit_price",
        "items[1].capacity_p",
        "items[2].gpu_model",
        "items[3].pricing",
        "open_months",
        "currency",
        "start",
        "tax_rate",
        "penalty.basis",
        "colour",
    }
    assert caught.value.code == "validation_failed"


def test_duplicate_item_ids_are_rejected():
    with pytest.raises(ValidationFailed) as caught:
        contract_from_payload(payload(machines(), machines()), DEFAULT_CATALOG, SHANGHAI)
    assert caught.value.details == [{"field": "items[1].id", "reason": "duplicate item id 'i-1'"}]


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (machines(machine_count=0), "items[0].machines"),
        (machines(machine_count=True), "items[0].machines"),
        (machines(unit_price="0"), "items[0].unit_price"),
        (machines(unit_price="1.0000001"), "items[0].unit_price"),
        (card_hours(committed="-5"), "items[0].committed_card_hours"),
        ({**tokens(), "input_price": 2.0}, "items[0].input_price"),
        ({**capacity(), "machines": 3}, "items[0].machines"),
    ],
)
def test_bad_item_values_are_named(item, field):
    with pytest.raises(ValidationFailed) as caught:
        contract_from_payload(payload(item), DEFAULT_CATALOG, SHANGHAI)
    assert field in _fields(caught.value)


def test_defaults_fill_what_the_payload_leaves_out():
    item = {"id": "i", "pricing": "token", "model": "*", "input_price": 1, "output_price": "4"}
    minimal = {"id": "c-9", "tenant_id": "t", "start": "2026-10-01", "open_months": 1, "items": [item]}
    terms = contract_from_payload(minimal, DEFAULT_CATALOG, SHANGHAI, default_currency="USD")
    assert (terms.currency, terms.tax_rate, terms.closed_months, terms.notice_days, terms.penalty) == (
        "USD",
        Decimal(0),
        0,
        30,
        None,
    )
    assert terms.start == at("2026-10-01")
    assert terms.items[0].cached_input_price == Decimal(1)


def test_fixed_months_penalty_needs_months_and_ignores_a_rate():
    terms = contract_from_payload(payload(penalty={"basis": "fixed_months", "months": 3}), DEFAULT_CATALOG, SHANGHAI)
    assert terms.penalty == Penalty(basis="fixed_months", months=3)
    with_rate = payload(penalty={"basis": "fixed_months", "months": 3, "rate": "0.2"})
    expected = Penalty(basis="fixed_months", months=3)
    assert contract_from_payload(with_rate, DEFAULT_CATALOG, SHANGHAI).penalty == expected
    with pytest.raises(ValidationFailed) as caught:
        contract_from_payload(payload(penalty={"basis": "fixed_months", "rate": "0.2"}), DEFAULT_CATALOG, SHANGHAI)
    assert _fields(caught.value) == {"penalty.months"}


def test_unknown_gpu_model_in_the_catalog_raises_a_named_error():
    with pytest.raises(UnknownGpuModel) as caught:
        DEFAULT_CATALOG.tflops("H9000")
    assert caught.value.details == [
        {"field": "gpu_model", "reason": "unknown GPU model 'H9000'; add it to the catalog first"}
    ]
    extended = DEFAULT_CATALOG.with_model(GpuModel("H9000", Decimal("5000"), "made up"))
    assert extended.tflops("H9000") == Decimal(5000)
    assert "H9000" not in DEFAULT_CATALOG


def test_default_catalog_covers_the_market_and_names_sources():
    names = {"H100-SXM", "H100-PCIe", "H800", "H20", "A100", "A800", "L40S", "L20", "RTX-4090", "B200", "Ascend-910B"}
    assert names <= {model.name for model in DEFAULT_CATALOG}
    assert DEFAULT_CATALOG.tflops("H100-SXM") == Decimal("989.5")
    assert DEFAULT_CATALOG.tflops("Ascend-910B") == Decimal(320)
    assert all(model.source for model in DEFAULT_CATALOG)
    assert isinstance(Catalog.of([]), Catalog)


def test_amendments_take_effect_from_their_instant():
    state = amend(sign(payload()), "i-1", at("2026-07-01"), machines=40)
    assert state.item_at("i-1", at("2026-06-30T23:59")).machines == 60
    assert state.item_at("i-1", at("2026-07-01")).machines == 40
    assert [item.machines for item in state.items_at(at("2027-01-01"))] == [40]
    assert [(s, e, i.machines) for s, e, i in state.segments("i-1", at("2026-06-01"), at("2026-08-01"))] == [
        (at("2026-06-01"), at("2026-07-01"), 60),
        (at("2026-07-01"), at("2026-08-01"), 40),
    ]


def test_amending_machines_of_a_derived_p_year_re_derives_p():
    item = {"id": "i-1", "pricing": "p_year", "gpu_model": "A100", "machines": 10, "unit_price": "100000"}
    state = amend(sign(payload(item)), "i-1", at("2026-05-01"), machines=5)
    assert state.item_at("i-1", at("2026-05-01")).capacity_p == Decimal("12.48")


def test_an_amendment_of_a_quantity_the_item_lacks_is_rejected():
    with pytest.raises(ValidationFailed, match="not priced per card-hour"):
        amend(sign(payload()), "i-1", at("2026-05-01"), committed_card_hours="10")
    with pytest.raises(NotFound):
        amend(sign(payload()), "i-9", at("2026-05-01"), machines=1)


def test_a_terminated_contract_takes_no_more_changes():
    state = terminate(sign(payload()), at("2027-01-01"))
    with pytest.raises(ContractClosed):
        amend(state, "i-1", at("2027-01-01"), machines=1)
    with pytest.raises(ContractClosed):
        terminate(state, at("2027-02-01"))


def _stream():
    signed = sign(payload(machines(), card_hours()))
    events = [ContractSigned(terms=signed.terms, recorded_at=at("2025-12-20"), actor="op")]
    fewer = ItemChanges(machines=50)
    events.append(
        ContractAmended(
            contract_id="c-1",
            item_id="i-1",
            changes=fewer,
            effective_at=at("2026-04-01"),
            version=2,
            recorded_at=at("2026-03-20"),
            actor="op",
        )
    )
    smaller = ItemChanges(committed_card_hours=Decimal("500.5"))
    events.append(
        ContractAmended(
            contract_id="c-1",
            item_id="i-3",
            changes=smaller,
            effective_at=at("2026-05-01"),
            version=3,
            recorded_at=at("2026-04-20"),
            actor="op",
        )
    )
    return events


def test_folding_a_stream_is_deterministic():
    assert fold(_stream()) == fold(_stream())
    state = fold(_stream())
    assert state.version == 3
    assert state.item_at("i-3", at("2026-06-01")).committed_card_hours == Decimal("500.5")


def test_folding_rejects_a_gap_or_disorder():
    events = _stream()
    with pytest.raises(VersionConflict, match="expected version 2, got 3"):
        fold([events[0], events[2]])
    with pytest.raises(VersionConflict):
        fold([events[0], events[2], events[1]])
    with pytest.raises(VersionConflict, match="must start with ContractSigned"):
        fold(events[1:])
    with pytest.raises(NotFound):
        fold([])


def test_events_survive_a_json_round_trip_exactly():
    events = [*_stream()]
    state = fold(events)
    events.append(terminate(state, at("2027-03-01"), at("2027-01-15")) and _termination(state))
    documents = json.loads(json.dumps([event_to_json(event) for event in events]))
    assert [event_from_json(document) for document in documents] == events
    assert documents[1]["data"] == {
        "item_id": "i-1",
        "changes": {"machines": 50},
        "effective_at": "2026-03-31T16:00:00Z",
    }
    assert documents[0]["data"]["items"][0]["unit_price"] == "5000.00"
    assert fold(event_from_json(d) for d in documents).terminated_at == at("2027-03-01")


def _termination(state):
    from billing.core.contracts import ContractTerminated

    return ContractTerminated(
        contract_id="c-1",
        effective_at=at("2027-03-01"),
        notice_given_at=at("2027-01-15"),
        version=state.version + 1,
        recorded_at=at("2027-01-15"),
        actor="op",
    )


def test_amendment_and_termination_bodies_are_parsed():
    item_id, changes, effective_at = parse_amendment(
        {"item_id": "i-1", "effective_at": "2026-11-01T00:00:00+08:00", "changes": {"machines": 40}}, SHANGHAI
    )
    assert (item_id, changes, effective_at) == ("i-1", ItemChanges(machines=40), at("2026-11-01"))
    assert parse_amendment({"item_id": "i-3", "effective_at": "2026-11-01", "committed_card_hours": "10"}, SHANGHAI)[
        1
    ] == ItemChanges(committed_card_hours=Decimal(10))
    assert parse_termination({"effective_at": "2027-01-01T00:00:00+08:00"}, SHANGHAI) == (at("2027-01-01"), None)
    with pytest.raises(ValidationFailed) as caught:
        parse_amendment({"item_id": "i-1", "effective_at": "soon", "changes": {"machines": 1.5}}, SHANGHAI)
    assert _fields(caught.value) == {"effective_at", "changes.machines"}


def test_an_item_whose_pricing_is_an_object_is_named_not_a_server_error():
    with pytest.raises(ValidationFailed) as caught:
        contract_from_payload(payload({"id": "i-1", "pricing": {}}), DEFAULT_CATALOG, SHANGHAI)
    assert _fields(caught.value) == {"items[0].pricing"}


@pytest.mark.parametrize("party", [{"supplier_id": None}, {"tenant_id": None}])
def test_a_null_party_is_named_not_signed_without_one(party):
    bad = {k: v for k, v in SPEC_PAYLOAD.items() if k != "tenant_id"} | party
    with pytest.raises(ValidationFailed) as caught:
        contract_from_payload(bad, DEFAULT_CATALOG, SHANGHAI)
    assert [d["field"] for d in caught.value.details] == list(party)


def test_prices_are_written_as_money_and_other_decimals_as_given():
    """SPEC §2: prices are strings like "5000.00" even when sent as integers; up to 6 places kept."""
    document = json.loads(json.dumps(SPEC_PAYLOAD))
    document["items"][0]["unit_price"] = 5000
    document["items"][2]["unit_price"] = "12.5"
    document["items"][3]["input_price"] = "0.000125"
    signed = ContractSigned(
        terms=contract_from_payload(document, DEFAULT_CATALOG, SHANGHAI),
        version=1,
        recorded_at=at("2026-09-01"),
        actor="op",
    )
    items = event_to_json(signed)["data"]["items"]
    assert [items[0]["unit_price"], items[2]["unit_price"], items[3]["input_price"]] == ["5000.00", "12.50", "0.000125"]
    assert (items[1]["capacity_p"], items[2]["committed_card_hours"]) == ("100", "1000")
    assert event_from_json(json.loads(json.dumps(event_to_json(signed)))) == signed
