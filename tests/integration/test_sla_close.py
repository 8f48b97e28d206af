"""SLA credits at the month close (SPEC §15): measured availability of a machine_month item, the
`sla_credit` line, a late `gpu.status` changing the next invoice by an adjustment, and replay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text

from billing.core.periods import Period
from billing.services.close import close_tenant
from billing.services.replay import verify_all
from tests.integration.billing_scenario import contract, send, sign
from tests.integration.fleet_kit import status, usage

SLA = {"availability": "0.99", "credits": [{"below": "0.99", "rate": "0.10"}, {"below": "0.95", "rate": "0.25"}]}
OCT_1 = datetime(2030, 9, 30, 16, tzinfo=UTC)  # 2030-10-01T00:00+08:00


def _z(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def _days(first: int, last: int):
    """(start, end) of each October day from day `first` to `last`, inclusive (Shanghai days)."""
    return [(_z(OCT_1 + timedelta(days=d - 1)), _z(OCT_1 + timedelta(days=d))) for d in range(first, last + 1)]


def _lines(operator_client, invoice_id):
    invoice = operator_client.get(f"/v1/invoices/{invoice_id}").json()
    return [(line["kind"], line["amount"], line["tax"]) for line in invoice["lines"]], invoice


def test_credit_then_late_status_adjusts_the_next_invoice_and_replay_agrees(kashi, uid, new_tenant, operator_client):
    model = f"S-{uid}"
    assert (
        operator_client.post("/v1/gpu-models", json={"name": model, "fp16_tflops": "100", "source": "test"}).status_code
        == 201
    )
    sign(
        kashi,
        contract(
            f"c-{uid}",
            new_tenant,
            {
                "id": "m",
                "pricing": "machine_month",
                "gpu_model": model,
                "cards_per_machine": 8,
                "machines": 1,
                "unit_price": "5000.00",
                "sla": SLA,
            },
            start="2030-10-01T00:00:00+08:00",
        ),
    )
    events = [usage(uid, f"g{g}", new_tenant, a, b, model=model) for g in range(8) for a, b in _days(1, 31)]
    events += [status(uid, "g0", a, b, "down", model=model, reason="XID 79") for a, b in _days(1, 3)]
    events += [status(uid, "g0", a, b, "allocated", model=model) for a, b in _days(4, 31)]
    events += [status(uid, "g1", a, b, "allocated", model=model) for a, b in _days(1, 9) + _days(24, 31)]
    events += [status(uid, f"g{g}", a, b, "allocated", model=model) for g in range(2, 8) for a, b in _days(1, 31)]
    send(kashi, uid, events)
    # capacity 8 cards × 31 days; g0 down 3 days, g1 silent 14 days: (248 − 17) / 248 = 0.9315 < 0.95 → 25 %
    (october,) = close_tenant(kashi.engine, new_tenant, Period(2030, 10), now=datetime(2030, 11, 5, tzinfo=UTC))
    lines, invoice = _lines(operator_client, october)
    assert lines == [("machine_month", "5000.00", "300.00"), ("sla_credit", "-1250.00", "-75.00")]
    assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == ("3750.00", "225.00", "3975.00")
    credit = invoice["lines"][1]
    assert credit["quantity"] == "0.25" and credit["unit_price"] == "-5000.00" and credit["item_id"] == "m"
    assert "availability 93.15% below 95.00%" in credit["description"]
    pdf = operator_client.get(f"/v1/invoices/{october}.pdf")
    assert pdf.status_code == 200
    from io import BytesIO

    from pypdf import PdfReader

    page = "".join(p.extract_text() for p in PdfReader(BytesIO(pdf.content)).pages)
    assert "SLA credit" in page and ("-1,250.00" in page or "-1250.00" in page)
    export = operator_client.get("/v1/exports/invoice-lines", params={"period": "2030-10"})
    assert any("sla_credit" in row and "-1250.00" in row for row in export.text.splitlines())

    # the agent's spool delivers g1's missing fortnight after the close: (248 − 3) / 248 = 0.9879 → 10 %
    send(kashi, uid, [status(uid, "g1", a, b, "allocated", model=model) for a, b in _days(10, 23)])
    (november,) = close_tenant(kashi.engine, new_tenant, Period(2030, 11), now=datetime(2030, 12, 5, tzinfo=UTC))
    lines, invoice = _lines(operator_client, november)
    # November: nothing reported under the item (availability 0 → 25 %); October: credit 1250 → 500
    assert lines == [
        ("machine_month", "5000.00", "300.00"),
        ("sla_credit", "-1250.00", "-75.00"),
        ("adjustment", "750.00", "45.00"),
    ]
    assert invoice["lines"][2]["period_start"] == "2030-09-30T16:00:00Z"

    quote = operator_client.get(
        f"/v1/contracts/c-{uid}/termination-quote", params={"effective_at": "2030-12-16T00:00:00+08:00"}
    )
    assert quote.status_code == 200, quote.text
    # December so far: 15 days of 5000/31 per day charged, nothing reported under the item → 25 %
    assert [(li["kind"], li["amount"]) for li in quote.json()["sla_credits"]["lines"]] == [("sla_credit", "-604.84")]

    with kashi.engine.connect() as conn:
        numbers = [
            n for (n,) in conn.execute(text("SELECT number FROM invoices WHERE tenant_id = :t"), {"t": new_tenant})
        ]
    differences = [d for d in verify_all(kashi.engine) if any(k in d for k in (uid, new_tenant, *numbers))]
    assert differences == []


def test_no_credit_at_full_availability_and_none_without_an_sla(kashi, uid, new_tenant, operator_client):
    model = f"S-{uid}"
    operator_client.post("/v1/gpu-models", json={"name": model, "fp16_tflops": "100", "source": "test"})
    item = {
        "id": "m",
        "pricing": "machine_month",
        "gpu_model": model,
        "cards_per_machine": 1,
        "machines": 1,
        "unit_price": "100.00",
        "sla": SLA,
    }
    sign(kashi, contract(f"c-{uid}", new_tenant, item, start="2030-10-01T00:00:00+08:00"))
    events = [usage(uid, "g0", new_tenant, a, b, model=model) for a, b in _days(1, 31)]
    events += [status(uid, "g0", a, b, "allocated", model=model) for a, b in _days(1, 31)]
    send(kashi, uid, events)
    (october,) = close_tenant(kashi.engine, new_tenant, Period(2030, 10), now=datetime(2030, 11, 5, tzinfo=UTC))
    lines, _ = _lines(operator_client, october)
    assert lines == [("machine_month", "100.00", "6.00")]
    assert Decimal(lines[0][1]) == Decimal("100.00")


def test_a_bad_sla_is_refused_naming_the_field(operator_client, uid, new_tenant):
    document = contract(
        f"c-{uid}",
        new_tenant,
        {
            "id": "m",
            "pricing": "machine_month",
            "gpu_model": "RTX-4090",
            "machines": 1,
            "unit_price": "100.00",
            "sla": {
                "availability": "0.99",
                "credits": [{"below": "0.9", "rate": "0.1"}, {"below": "0.95", "rate": "0.2"}],
            },
        },
    )
    answer = operator_client.post("/v1/contracts", json=document)
    assert answer.status_code == 422
    assert [d["field"] for d in answer.json()["error"]["details"]] == ["items[0].sla.credits[1].below"]
    document["items"][0]["sla"] = SLA
    assert operator_client.post("/v1/contracts", json=document).status_code == 201
    shown = operator_client.get(f"/v1/contracts/c-{uid}").json()
    assert shown["items"][0]["sla"] == SLA
