"""The OpenAPI document and the routes agree: every /api/v1 route is described, every described
path and method is routed."""

from __future__ import annotations

import re

API = "/api/v1"
METHODS = {"GET", "POST", "PATCH", "PUT", "DELETE"}


def routed_operations(app) -> set[tuple[str, str]]:
    """``(OpenAPI path, method)`` for each API route; ``<any(a, b):x>`` becomes one path each."""
    operations = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(API + "/"):
            continue
        paths = [rule.rule.removeprefix(API)]
        choice = re.search(r"<any\(([^)]*)\):\w+>", paths[0])
        if choice:
            paths = [
                paths[0].replace(choice.group(0), c.strip()) for c in choice.group(1).split(",")
            ]
        for path in paths:
            path = re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", path)
            operations |= {(path, method) for method in rule.methods & METHODS}
    return operations


def described_operations(document: dict) -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in document["paths"].items() for method in item}


def test_every_api_route_is_described_and_every_description_is_routed(app, client):
    described = described_operations(client.get(f"{API}/openapi.json").json)
    routed = routed_operations(app)
    assert routed - described == set(), "routes missing from the OpenAPI document"
    assert described - routed == set(), "described paths that no route serves"
    assert ("/campaigns/{campaign_id}/cancel", "POST") in routed


def test_statuses_in_the_document_are_the_services(client):
    from webapp.campaigns import service

    schemas = client.get(f"{API}/openapi.json").json["components"]["schemas"]
    status = schemas["Campaign"]["allOf"][1]["properties"]["status"]
    assert status["enum"] == list(service.STATUSES)
