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


def test_the_key_is_the_bearer_scheme_not_a_header_parameter_of_each_operation(schema):
    for method, path, operation in _operations(schema):
        assert "authorization" not in [p["name"].lower() for p in operation.get("parameters", [])], f"{method} {path}"


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


def test_every_served_operation_is_in_the_operations_table_and_no_other(schema):
    from kashi.api.schemas.operations import OPERATIONS

    served = {(method, path) for method, path, _ in _operations(schema)}
    assert served - set(OPERATIONS) == set(), "document each new operation in kashi/api/schemas/operations.py"
    assert set(OPERATIONS) - served == set(), "OPERATIONS names operations the app no longer serves"


def test_every_operation_has_a_summary_and_a_description(schema):
    for method, path, operation in _operations(schema):
        assert operation.get("summary") and len(operation["summary"]) < 60, f"{method} {path}"
        assert len(operation.get("description") or "") > 20, f"{method} {path} needs a docstring"


def test_every_json_success_answer_is_a_named_model(schema):
    for method, path, operation in _operations(schema):
        for status, answer in operation["responses"].items():
            if status.startswith("2") and "application/json" in answer.get("content", {}):
                media = answer["content"]["application/json"]["schema"]
                assert media.get("$ref", "").startswith("#/components/schemas/"), f"{method} {path} {status}: {media}"
                assert media["$ref"].rsplit("/", 1)[1] in schema["components"]["schemas"]


def test_every_property_of_every_model_has_a_description(schema):
    missing = [
        f"{name}.{prop}"
        for name, model in schema["components"]["schemas"].items()
        for prop, spec in model.get("properties", {}).items()
        if not spec.get("description")
    ]
    assert missing == []


def test_every_request_body_model_has_a_whole_example(schema):
    components = schema["components"]["schemas"]
    for method, path, operation in _operations(schema):
        for media in operation.get("requestBody", {}).get("content", {}).values():
            body = media["schema"].get("items", media["schema"])
            model = components[body["$ref"].rsplit("/", 1)[1]]
            assert model.get("examples"), f"{method} {path}: {body['$ref']} has no example"
            required = set(model.get("required", []))
            assert all(required <= set(example) for example in model["examples"]), f"{method} {path}"


def _objects(node, where="$"):
    if isinstance(node, dict):
        if node.get("type") == "object" or "additionalProperties" in node:
            yield where, node
        for key, value in node.items():
            yield from _objects(value, f"{where}.{key}")
    elif isinstance(node, list):
        for n, value in enumerate(node):
            yield from _objects(value, f"{where}[{n}]")


def test_no_free_objects_only_named_models_and_maps(schema):
    free = []
    for name, model in schema["components"]["schemas"].items():
        for where, node in _objects(model, name):
            extra = node.get("additionalProperties")
            if where.endswith(".examples") or ".examples[" in where:
                continue
            if extra is True or (node.get("type") == "object" and not node.get("properties") and not extra):
                free.append(where)
    assert free == []


def test_model_names_are_unique_across_the_schema_modules():
    import importlib
    import inspect
    import pkgutil

    from pydantic import BaseModel

    import kashi.api.schemas as package

    seen: dict[str, str] = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"kashi.api.schemas.{info.name}")
        for name, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseModel) and value.__module__ == module.__name__:
                assert seen.setdefault(name, module.__name__) == module.__name__, f"{name} in two modules"
