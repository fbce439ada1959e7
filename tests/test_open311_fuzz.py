"""Schemathesis over every operation of the Open311 OpenAPI document, in process through WSGI,
on the demo city with a few requests, a token and an API key. Whatever it sends, the API must
not fail (no 5xx), must answer only documented statuses, content types and methods, and each
answer must match its schema; XML answers are read back and held to their JSON twin's schema.

Three passes: random cases (some steered to things that exist), schemathesis' boundary cases,
and a sweep of known troublemaking values through every argument. Deterministic (fixed seed,
no example database) and bounded: a regression test, not an open-ended search.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from civicdesk.open311.keys import apikey_create
from civicdesk.open311.openapi import ERRORS, openapi_document
from civicdesk.wsgi import application
from tests.conftest import DOWNTOWN, EAST_SIDE, make_request

pytestmark = pytest.mark.usefixtures("city")

SEED = 20261126
MAX_EXAMPLES = 40
DOCUMENT = openapi_document()
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "unsupported_method",
    "xml_conforms_to_json_twin",
]

# --------------------------------------------------------------------------------------
# XML answers, held to the schema of the JSON twin of their operation

# The specification's element for each item of a list, by the list's element name.
XML_ITEMS = {
    "services": "service",
    "service_requests": "request",
    "attributes": "attribute",
    "values": "value",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "notes": "note",
}
XML_ROOTS = {
    "discovery": "discovery",
    "services": "services",
    "services/{service_code}": "service_definition",
    "requests": "service_requests",
    "requests/{service_request_id}": "service_requests",
    "tokens/{token}": "service_requests",
}
XML_DECLARATION = b'<?xml version="1.0" encoding="utf-8"?>'
_INTEGER = re.compile(r"^-?\d+$")


def _json_schema(openapi: Any) -> Any:
    """An OpenAPI 3.0 schema as JSON Schema: ``nullable`` becomes a ``null`` type."""
    if isinstance(openapi, list):
        return [_json_schema(item) for item in openapi]
    if not isinstance(openapi, dict):
        return openapi
    converted = {k: _json_schema(v) for k, v in openapi.items() if k != "nullable"}
    if openapi.get("nullable") and "type" in openapi:
        converted["type"] = [openapi["type"], "null"]
    return converted


def _from_xml(element: ET.Element, schema: dict[str, Any]) -> Any:
    """The JSON value an element stands for, read with the types its schema expects."""
    kind = schema.get("type")
    if kind == "array":
        item = XML_ITEMS.get(element.tag)
        wrong = [child.tag for child in element if child.tag != item]
        assert not wrong, f"<{element.tag}> holds <{wrong[0]}>, expected <{item}>"
        return [_from_xml(child, schema.get("items", {})) for child in element]
    if kind == "object" or len(element):
        properties = schema.get("properties", {})
        value: dict[str, Any] = {}
        for child in element:
            if kind == "object" and properties:
                assert child.tag not in value, f"<{element.tag}> repeats <{child.tag}>"
            value[child.tag] = _from_xml(child, properties.get(child.tag, {}))
        return value
    text = element.text
    if text is None:
        return None if schema.get("nullable") or kind is None else ""
    if kind == "boolean":
        return {"true": True, "false": False}.get(text, text)
    if kind == "integer" and _INTEGER.match(text):
        return int(text)
    if kind == "number":
        try:
            return float(text)
        except ValueError:
            return text
    return text


@schemathesis.check
def xml_conforms_to_json_twin(ctx: Any, response: Any, case: schemathesis.Case) -> None:
    path = case.operation.path
    if not path.endswith(".xml"):
        return
    content_type = (response.headers.get("content-type") or [""])[0]
    assert content_type.startswith("text/xml"), f"an XML path answered {content_type!r}"
    assert response.content.startswith(XML_DECLARATION), response.content[:80]
    root = ET.fromstring(response.content)  # noqa: S314 (our own server's answer)
    twin = DOCUMENT["paths"][path.removesuffix(".xml") + ".json"].get(case.method.lower())
    if twin is None:  # a method the document does not list (unsupported_method checks the 405)
        assert response.status_code >= 400, f"{case.method} answered {response.status_code}"
        openapi = ERRORS
    else:
        documented = twin["responses"].get(str(response.status_code))
        assert documented, f"{response.status_code} is not documented for the JSON twin"
        openapi = documented["content"]["application/json"]["schema"]
    resource = path.removeprefix("/open311/v2/").removesuffix(".xml")
    expected_root = "errors" if response.status_code >= 400 else XML_ROOTS[resource]
    assert root.tag == expected_root, f"root <{root.tag}>, expected <{expected_root}>"
    value = _from_xml(root, openapi)
    validator = jsonschema_rs.Draft4Validator(_json_schema(openapi), validate_formats=True)
    errors = [f"{list(e.instance_path)}: {e.message}" for e in validator.iter_errors(value)]
    assert not errors, "XML does not match the JSON schema:\n" + "\n".join(errors[:5])


# --------------------------------------------------------------------------------------
# The run


# Strings that break parsers, databases and XML writers more often than random text does:
# offered in place of generated strings now and then, and swept through every argument.
TROUBLEMAKERS = [
    "\x00",  # PostgreSQL text cannot hold NUL
    "pothole\x00",
    "²",  # str.isdigit() is true, int() refuses it
    "١٢",  # Arabic-Indic digits: int() reads them
    "9" * 5000,  # past int()'s 4,300-digit limit
    "1e999",
    "nan",
    "-0",
    " ",
    "%_\\'",  # LIKE wildcards and quotes
    "<x>&amp;]]>",
    "\x0b\ufffe",  # characters XML cannot carry
    "\u202e😀",
    "open,closed,,new",
    "2026-02-30T00:00:00Z",
    "2026-03-08T02:30:00",  # a local time that does not exist (daylight saving)
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "-180,-90,180,90",
    "26-000001",
]


def _schema(phase: str) -> Any:
    """The document, driven in process through WSGI, for one of schemathesis' phases."""
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "dictionaries": {"troublemakers": {"values": TROUBLEMAKERS}},
            "generation": {
                "dictionaries": {"string": {"dictionary": "troublemakers", "probability": 0.2}}
            },
        }
    )
    loaded = schemathesis.openapi.from_dict(DOCUMENT, config=config)
    loaded.app = application
    loaded.config.phases.update(phases=[phase])
    loaded.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True, database="none")
    loaded.config.checks.update(included_check_names=CHECKS)
    return loaded


# Fuzzing: random valid and invalid requests, some steered to things that exist.
fuzzed = _schema("fuzzing")
# Coverage: schemathesis' boundary and missing or wrong-typed values for every parameter, once
# each (it cannot be combined with the steering strategies above).
covered = _schema("coverage")

# Valid answers for services whose definitions have required questions.
ANSWERS = {
    "pothole": {"attribute[size]": "small", "attribute[in_traffic_lane]": "yes"},
    "graffiti": {"attribute[surface]": "sign_pole", "attribute[offensive]": "no"},
    "gas-odor": {},
}
NUMERIC_ARGUMENTS = ["page", "page_size", "lat", "long", "radius"]
KNOWN_SERVICE_CODES = ["pothole", "graffiti", "streetlight-out", "gas-odor", "tree-trimming"]


@dataclass
class Seeded:
    api_key: str
    request_ids: list[str]
    token: str


@pytest.fixture
def seeded(city: None) -> Seeded:
    """Requests, an API key and a token (from a post through the API) to steer cases toward."""
    _, key = apikey_create(name="Fuzzer", posts_per_minute=100_000)
    made = [
        make_request("pothole", at=DOWNTOWN),
        make_request("graffiti", at=EAST_SIDE, description="Tag on the bridge"),
    ]
    response = Client().post(
        "/open311/v2/requests.json",
        {"api_key": key, "service_code": "pothole", "lat": DOWNTOWN[0], "long": DOWNTOWN[1]}
        | ANSWERS["pothole"],
    )
    assert response.status_code == 201, response.content
    posted = response.json()[0]["service_request_id"]
    return Seeded(
        api_key=key,
        request_ids=[r.public_id for r in made] + [posted],
        token=response["X-Open311-Token"],
    )


def _steer(case: schemathesis.Case, data: st.DataObject, seeded: Seeded) -> None:
    """Point some cases at things that exist, so the success answers are checked too."""
    known = {
        "service_code": st.sampled_from(KNOWN_SERVICE_CODES),
        "service_request_id": st.sampled_from(seeded.request_ids),
        "token": st.just(seeded.token),
    }
    for name in list(case.path_parameters or {}):
        if name in known and data.draw(st.booleans(), label=f"real {name}"):
            case.path_parameters[name] = data.draw(known[name], label=name)
    if (
        case.method == "GET"
        and case.path.startswith("/open311/v2/requests.")
        and isinstance(case.query, dict)
        and data.draw(st.booleans(), label="real ids")
    ):
        case.query["service_request_id"] = ",".join(
            data.draw(st.lists(st.sampled_from(seeded.request_ids), min_size=1), label="ids")
        )
    if (
        case.method == "GET"
        and case.path.startswith("/open311/v2/requests.")
        and isinstance(case.query, dict)
        and data.draw(st.integers(0, 4), label="odd number") == 0
    ):
        # Numbers are typed in the document, so the string dictionary never reaches them.
        name = data.draw(st.sampled_from(NUMERIC_ARGUMENTS), label="numeric argument")
        case.query[name] = data.draw(st.sampled_from(TROUBLEMAKERS), label=name)
    if case.method == "POST" and isinstance(case.body, dict):
        if data.draw(st.booleans(), label="valid api_key"):
            case.body["api_key"] = seeded.api_key
        if data.draw(st.booleans(), label="complete report"):
            code = data.draw(st.sampled_from(sorted(ANSWERS)), label="service")
            at = data.draw(st.sampled_from([DOWNTOWN, EAST_SIDE]), label="at")
            case.body.update({"service_code": code, "lat": at[0], "long": at[1]} | ANSWERS[code])


@pytest.fixture
def api(seeded: Seeded) -> Iterator[Seeded]:
    """The seeded data, and the real WSGI handler made safe inside the test's transaction.

    As Django's test client does, a request's start and end must not close the test's
    connection (autocommit is off inside the transaction, which close_old_connections takes
    for a broken connection). Done after seeding: the test client reconnects the handler.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield seeded
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


# The seeded rows are meant to be shared by every example of an operation (each example adds
# at most a posted request to them), so the function-scoped fixtures are intended.
SHARED_FIXTURES = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@fuzzed.parametrize()
@fuzzed.given(data=st.data())
@SHARED_FIXTURES
def test_fuzzed_requests_conform(case: schemathesis.Case, data: Any, api: Seeded) -> None:
    _steer(case, data, api)
    case.call_and_validate()


@covered.parametrize()
@SHARED_FIXTURES
def test_boundary_and_invalid_requests_conform(case: schemathesis.Case, api: Seeded) -> None:
    # A post's api_key and service_code are made valid unless the case is about them, so the
    # other fields' boundary values get past the key and service checks to validation.
    if case.method == "POST" and isinstance(case.body, dict):
        target = _coverage_target(case)
        if "api_key" in case.body and target != "api_key":
            case.body["api_key"] = api.api_key
        if "service_code" in case.body and target != "service_code":
            case.body.update({"service_code": "pothole"} | ANSWERS["pothole"])
    case.call_and_validate()


def _coverage_target(case: schemathesis.Case) -> str:
    """The body property a coverage case varies ("" when it is about the whole body)."""
    location = getattr(case.meta.phase.data, "location", None) if case.meta else None
    parts = (location or "").split("/")
    return parts[2] if len(parts) > 2 and parts[1] == "properties" else ""


OPERATIONS = [(method.upper(), path) for path, item in DOCUMENT["paths"].items() for method in item]


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_every_argument_takes_every_troublemaker(api: Seeded, method: str, path: str) -> None:
    """Each troublemaker in each argument of each operation, the others valid: the random
    phases reach a given argument with a given value only by chance."""
    operation = fuzzed[path][method]
    definition = DOCUMENT["paths"][path][method.lower()]
    real = {
        "service_code": "pothole",
        "service_request_id": api.request_ids[0],
        "token": api.token,
    }
    path_parameters = {
        p["name"]: real[p["name"]] for p in definition.get("parameters", []) if p["in"] == "path"
    }
    arguments = [("path", name) for name in path_parameters] + [
        ("query", p["name"]) for p in definition.get("parameters", []) if p["in"] == "query"
    ]
    body: dict[str, Any] | None = None
    if method == "POST":
        body = {
            "api_key": api.api_key,
            "service_code": "pothole",
            "lat": DOWNTOWN[0],
            "long": DOWNTOWN[1],
        } | ANSWERS["pothole"]
        form = definition["requestBody"]["content"]["application/x-www-form-urlencoded"]
        arguments += [("body", name) for name in form["schema"]["properties"]]
        arguments += [("body", "attribute[size]")]
    for location, name in arguments:
        for value in TROUBLEMAKERS:
            form: dict[str, Any] = {}
            if body is not None:
                form["body"] = body | ({name: value} if location == "body" else {})
                form["media_type"] = "application/x-www-form-urlencoded"
            case = operation.Case(
                path_parameters=path_parameters | ({name: value} if location == "path" else {}),
                query={name: value} if location == "query" else {},
                **form,
            )
            case.call_and_validate()


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_complete_posts_conform(api: Seeded, fmt: str) -> None:
    """Fuzzing reaches a 201 only by chance: one complete report per format, every check."""
    operation = fuzzed[f"/open311/v2/requests.{fmt}"]["POST"]
    case = operation.Case(
        body={
            "api_key": api.api_key,
            "service_code": "pothole",
            "lat": DOWNTOWN[0],
            "long": DOWNTOWN[1],
            "address_string": "100 Main St",
            "description": "Deep hole by the bank",
            "first_name": "Test",
            "last_name": "Resident",
            "email": "resident@example.org",
            "device_id": "device-1",
            "account_id": "account-1",
            "locale": "es-MX",
        }
        | ANSWERS["pothole"],
        media_type="application/x-www-form-urlencoded",
    )
    response = case.call_and_validate()
    assert response.status_code == 201


def test_the_served_document_is_the_one_fuzzed(client: Client) -> None:
    response = client.get("/open311/v2/openapi.json")
    assert response.status_code == 200
    served = response.json()
    assert served["paths"] == DOCUMENT["paths"]
    assert served["openapi"] == "3.0.3"
