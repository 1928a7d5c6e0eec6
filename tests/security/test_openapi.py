"""The OpenAPI description is served to anyone, is whole, and matches the router both ways."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from publisher.config import load_settings
from publisher.web.app import create_app
from publisher.web.openapi import OPENAPI_PATH, openapi_document
from tests.integration.api_client import Api

_METHODS = {"get", "put", "post", "patch", "delete"}


def _api_routes(app: web.Application) -> set[tuple[str, str]]:
    # aiohttp adds HEAD beside every GET; the description names the GET.
    return {(route.method, route.resource.canonical) for route in app.router.routes()
            if route.resource is not None and route.resource.canonical.startswith("/api/")
            and route.method != "HEAD"}


def _described(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items()
            for method in item if method in _METHODS}


def _references(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_references(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_references(value) for value in node))
    return set()


def test_every_api_route_is_described_and_every_description_is_routed(tmp_path: Path) -> None:
    app = create_app(load_settings({}, data_dir=tmp_path))
    routed, described = _api_routes(app), _described(openapi_document())
    assert routed - described == set(), "routes missing from the OpenAPI description"
    assert described - routed == set(), "described operations that no route serves"


def test_every_reference_resolves_and_every_schema_is_used() -> None:
    document = openapi_document()
    schemas = document["components"]["schemas"]
    references = _references(document)
    unresolved = {name for name in references
                  if name.removeprefix("#/components/schemas/") not in schemas}
    assert unresolved == set()
    unused = {name for name in schemas if f"#/components/schemas/{name}" not in references}
    assert unused == set()


def test_every_error_response_has_the_error_shape() -> None:
    error = {"$ref": "#/components/schemas/Error"}
    for path, item in openapi_document()["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if status == "default" or int(status) >= 400:
                    assert response["content"] == {"application/json": {"schema": error}}, \
                        (method, path, status)
            assert "default" in operation["responses"], (method, path)


@pytest.mark.asyncio
async def test_anyone_reads_the_description(api: Api) -> None:
    reply = await api.call("GET", OPENAPI_PATH)
    assert reply.status == 200
    assert reply.body == json.loads(json.dumps(openapi_document()))
    assert reply.body["openapi"].startswith("3.")
