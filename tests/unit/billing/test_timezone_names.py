"""A timezone that is not an IANA name is a 422 naming its field, whatever its shape: not a string,
or a string too long to be a file name of the zone database (OSError, not ZoneInfoNotFoundError)."""

from __future__ import annotations

import pytest

from billing.core.periods import zone
from billing.services import suppliers, tenants
from kashi.errors import ValidationFailed

BAD = [{"a": 1}, ["Asia/Shanghai"], 8, "x" * 300, "Asia/Nowhere"]


@pytest.mark.parametrize("tz", BAD)
def test_a_suppliers_bad_timezone_names_the_field(tz):
    with pytest.raises(ValidationFailed) as raised:
        suppliers.validate({"id": "sup-1", "timezone": tz})
    assert [d["field"] for d in raised.value.details] == ["timezone"]


@pytest.mark.parametrize("tz", BAD)
def test_a_tenants_bad_timezone_names_the_field(tz):
    with pytest.raises(ValidationFailed) as raised:
        tenants.validate({"id": "t-1", "name": "租户", "timezone": tz}, default_timezone="UTC", default_currency="CNY")
    assert "timezone" in [d["field"] for d in raised.value.details]


def test_a_zone_name_too_long_for_a_file_is_a_validation_error():
    with pytest.raises(ValidationFailed):
        zone("Asia/" + "x" * 300)
    assert str(zone("Asia/Shanghai")) == "Asia/Shanghai"


@pytest.mark.parametrize("currency", ["ABC", "cny", "CN", 156])
def test_a_tenants_currency_must_be_one_a_contract_may_use(currency):
    with pytest.raises(ValidationFailed) as raised:
        tenants.validate({"id": "t-1", "currency": currency}, default_timezone="UTC", default_currency="CNY")
    assert [d["field"] for d in raised.value.details] == ["currency"]
    assert tenants.validate({"id": "t-1", "currency": "USD"}, default_timezone="UTC", default_currency="CNY")
