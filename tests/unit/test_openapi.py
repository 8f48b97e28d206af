"""The API reference documents every body, the error model on every operation, the bearer scheme
and one tag per resource; it never says "SPEC §" (the product's text describes behaviour)."""

from __future__ import annotations

import json

import pytest

from kashi.api.app import create_app
from kashi.api.openapi import TAGS
from kashi.settings import Settings


@pytest.fixture(scope="module")
def schema() -> dict:
    app = create_app(Settings(), database_url="postgresql+psycopg://nowhere/kashi", redis_url="redis://nowhere")
    return app.openapi()


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def test_every_operation_documents_its_success_body_and_a_description(schema):
    for method, path, operation in _operations(schema):
        ok = [r for status, r in operation["responses"].items() if status.startswith("2") and status != "204"]
        assert ok or "204" in operation["responses"], f"{method} {path}"
        assert all(r.get("content") for r in ok), f"{method} {path}"
        assert operation.get("description"), f"{method} {path} has no description"


def test_every_request_body_is_a_model_not_a_free_object(schema):
    for method, path, operation in _operations(schema):
        if method in ("POST", "PUT", "PATCH") and "requestBody" in operation:
            for media in operation["requestBody"]["content"].values():
                text = json.dumps(media["schema"])
                assert "#/components/schemas/" in text, f"{method} {path}: {text}"


def test_errors_use_the_kashi_error_model_on_every_v1_operation(schema):
    assert "HTTPValidationError" not in json.dumps(schema)
    error = schema["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["$ref"].endswith("/ErrorDetail")
    for method, path, operation in _operations(schema):
        if path.startswith("/v1/"):
            for status in ("401", "403", "404", "409", "422"):
                ref = operation["responses"][status]["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/Error", f"{method} {path} {status}"


def test_v1_operations_need_the_bearer_scheme(schema):
    assert schema["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A Kashi key, shown once by `kashi keys create`.",
    }
    for method, path, operation in _operations(schema):
        assert (operation.get("security") == [{"bearer": []}]) == path.startswith("/v1/"), f"{method} {path}"


def test_one_tag_per_resource_each_described_and_used(schema):
    declared = {tag["name"] for tag in TAGS}
    used = {tag for _, _, operation in _operations(schema) for tag in operation.get("tags", [])}
    assert used <= declared and all(len(operation.get("tags", [])) == 1 for _, _, operation in _operations(schema))
    assert all(tag["description"] for tag in schema["tags"])


def test_events_accept_a_batch_of_cloudevents(schema):
    content = schema["paths"]["/v1/events"]["post"]["requestBody"]["content"]
    batch = content["application/cloudevents-batch+json"]["schema"]
    assert batch["type"] == "array" and batch["items"]["$ref"].endswith("/CloudEvent")
    assert set(schema["paths"]["/v1/events"]["post"]["responses"]) >= {"202", "413", "415", "503"}


def test_no_spec_section_numbers_in_the_reference(schema):
    assert "SPEC §" not in json.dumps(schema, ensure_ascii=False)
