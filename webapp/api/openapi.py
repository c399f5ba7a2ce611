"""The OpenAPI 3 description of the JSON API, served at /api/v1/openapi.json.

Each endpoint added to the API adds its path here, so the document stays the contract's mirror.
"""

from __future__ import annotations

from typing import Any


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


ERROR_TEXTS = {
    400: "Malformed request",
    401: "Missing or invalid API key",
    403: "Forbidden",
    404: "Not found",
    409: "Not allowed in the current state",
    413: "Too large",
    415: "Unsupported type",
    422: "Understood but semantically wrong",
}


def errors(*statuses: int) -> dict:
    """Error responses for ``statuses``, each with the ``{"error": ...}`` body."""
    return {str(status): _error(ERROR_TEXTS[status]) for status in statuses}


UNAUTHORIZED = errors(401)


def json_response(description: str, schema_ref: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": schema_ref}}},
    }


def paged_response(item_ref: str) -> dict:
    return {
        "description": "One page",
        "content": {"application/json": {"schema": paged_schema(item_ref)}},
    }


def paged_schema(item_ref: str) -> dict:
    return {
        "type": "object",
        "required": ["items", "total", "page", "per_page"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": item_ref}},
            "total": {"type": "integer"},
            "page": {"type": "integer"},
            "per_page": {"type": "integer"},
        },
    }


PAGE_PARAMETERS = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}},
    {
        "name": "per_page",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50},
    },
]

PATHS: dict[str, Any] = {
    "/health": {
        "get": {
            "summary": "Liveness check",
            "security": [],
            "responses": {
                "200": {
                    "description": "The service is up",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"status": {"type": "string", "enum": ["ok"]}},
                            }
                        }
                    },
                }
            },
        }
    },
}

PATHS["/me"] = {
    "get": {
        "summary": "The user the API key belongs to",
        "responses": {
            "200": {
                "description": "The key's owner",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "email": {"type": "string"},
                                "role": {"type": "string", "enum": ["admin", "member"]},
                            },
                        }
                    }
                },
            },
            **errors(401),
        },
    }
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}},
        "additionalProperties": True,
    },
}


def document(server_url: str) -> dict:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Volna API",
            "version": "1",
            "description": "Bulk WhatsApp campaigns through the telefon-ip.ru gateway.",
        },
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}],
        "paths": PATHS,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": SCHEMAS,
        },
    }
