"""Pydantic models of every request and response body, one module per resource, for the OpenAPI
reference (``/docs``) and, where a route lets FastAPI validate its body, for that validation too.

Routes whose service validates the raw body (so one 422 names every bad field, nested ones included)
are described by the same shapes here. Which operation uses which model, and its summary, is
:data:`kashi.api.schemas.operations.OPERATIONS`.
"""
