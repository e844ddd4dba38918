"""The read API's OpenAPI document: valid, generated from the routes, and the one in docs/."""

from __future__ import annotations

import json
from pathlib import Path

from openapi_spec_validator import validate

from ari_app.records_api import ROUTES, openapi

DOCS = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_the_document_is_valid_openapi_and_lists_every_route() -> None:
    document = openapi()
    validate(document)  # raises on any error
    assert sorted(document["paths"]) == sorted(route.path for route in ROUTES)
    calls = document["paths"]["/api/calls"]["get"]
    names = [p["name"] for p in calls["parameters"]]
    assert {"since", "until", "queue", "agent", "number", "limit", "offset"} <= set(names)
    limit = next(p for p in calls["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 500
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    recording = document["components"]["schemas"]["RecordingOut"]
    assert "gaps" in recording["properties"]


def test_docs_openapi_json_is_the_generated_one() -> None:
    # Regenerate with: python -m ari_app.records_api > docs/openapi.json
    assert json.loads(DOCS.read_text()) == json.loads(json.dumps(openapi()))
