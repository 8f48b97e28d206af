"""Pydantic models of every request and response body, for the OpenAPI reference (``/docs``).

Routes validate by hand where they always did (their error messages and field names are part of
the product); these models describe the same bodies so ``/openapi.json`` documents them. The
mapping of operations to models is :data:`kashi.api.schemas.operations.OPERATIONS`.
"""
