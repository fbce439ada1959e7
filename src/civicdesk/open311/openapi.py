"""The OpenAPI 3.0 description of /open311/v2/, for client authors and fuzzers."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from civicdesk import __version__


def _nullable(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "nullable": True, **extra}


DATETIME = {"type": "string", "format": "date-time"}
ERRORS = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "required": ["code", "description"],
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
        "additionalProperties": False,
    },
}
SERVICE = {
    "type": "object",
    "required": ["service_code", "service_name", "metadata", "type"],
    "properties": {
        "service_code": {"type": "string"},
        "service_name": {"type": "string"},
        "description": _nullable("string"),
        "metadata": {"type": "boolean"},
        "type": {"type": "string", "enum": ["realtime", "batch", "blackbox"]},
        "keywords": _nullable("string"),
        "group": _nullable("string"),
    },
}
DEFINITION = {
    "type": "object",
    "required": ["service_code", "attributes"],
    "properties": {
        "service_code": {"type": "string"},
        "attributes": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["variable", "code", "datatype", "required", "order", "description"],
                "properties": {
                    "variable": {"type": "boolean"},
                    "code": {"type": "string"},
                    "datatype": {
                        "type": "string",
                        "enum": [
                            "string",
                            "number",
                            "datetime",
                            "text",
                            "singlevaluelist",
                            "multivaluelist",
                        ],
                    },
                    "required": {"type": "boolean"},
                    "datatype_description": _nullable("string"),
                    "order": {"type": "integer"},
                    "description": {"type": "string"},
                    "values": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["key", "name"],
                            "properties": {"key": {"type": "string"}, "name": {"type": "string"}},
                        },
                    },
                },
            },
        },
    },
}
REQUEST = {
    "type": "object",
    "required": ["service_request_id", "status", "service_code", "requested_datetime"],
    "properties": {
        "service_request_id": {"type": "string"},
        "status": {"type": "string", "enum": ["open", "closed"]},
        "status_notes": _nullable("string"),
        "service_name": {"type": "string"},
        "service_code": {"type": "string"},
        "description": _nullable("string"),
        "agency_responsible": _nullable("string"),
        "service_notice": _nullable("string"),
        "requested_datetime": DATETIME,
        "updated_datetime": {**DATETIME, "nullable": True},
        "expected_datetime": {**DATETIME, "nullable": True},
        "address": _nullable("string"),
        "address_id": _nullable("string"),
        "zipcode": _nullable("string"),
        "lat": _nullable("number"),
        "long": _nullable("number"),
        "media_url": _nullable("string"),
        "extended_attributes": {"type": "object"},
        "notes": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["datetime", "summary", "type"],
                "properties": {
                    "datetime": DATETIME,
                    "summary": {"type": "string"},
                    "type": {"type": "string"},
                    "description": _nullable("string"),
                },
            },
        },
    },
}
POSTED = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["service_request_id"],
        "properties": {
            "service_request_id": {"type": "string"},
            "token": _nullable("string"),
            "service_notice": _nullable("string"),
            "account_id": _nullable("string"),
        },
    },
}
TOKEN = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["service_request_id", "token"],
        "properties": {"service_request_id": {"type": "string"}, "token": {"type": "string"}},
    },
}
DISCOVERY = {
    "type": "object",
    "required": ["endpoints"],
    "properties": {
        "changeset": {**DATETIME, "nullable": True},
        "contact": _nullable("string"),
        "key_service": _nullable("string"),
        "endpoints": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["specification", "url", "type", "formats"],
                "properties": {
                    "specification": {"type": "string"},
                    "url": {"type": "string"},
                    "changeset": {**DATETIME, "nullable": True},
                    "type": {"type": "string"},
                    "formats": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}


def _q(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


JURISDICTION = _q("jurisdiction_id", "Only needed where one endpoint serves several.")
LIST_PARAMETERS = [
    JURISDICTION,
    _q("service_request_id", "Comma-separated ids; overrides every other argument."),
    _q("service_code", "Comma-separated service codes."),
    _q("status", "Comma-separated: open, closed, or detailed statuses (extension)."),
    _q(
        "start_date",
        "Requested on or after (ISO 8601). Default: 90 days ago.",
        type="string",
        format="date-time",
    ),
    _q(
        "end_date",
        "Requested on or before (ISO 8601); at most 90 days after start_date.",
        type="string",
        format="date-time",
    ),
    _q("updated_after", "Extension: updated after (ISO 8601).", type="string", format="date-time"),
    _q(
        "updated_before", "Extension: updated before (ISO 8601).", type="string", format="date-time"
    ),
    _q("q", "Extension: words in the description, address, service name, or an id."),
    _q("bbox", "Extension: min_long,min_lat,max_long,max_lat (WGS84)."),
    _q("lat", "Extension: centre of a radius search.", type="number"),
    _q("long", "Extension: centre of a radius search.", type="number"),
    _q("radius", "Extension: metres around lat/long (default 500).", type="number"),
    _q("agency_responsible", "Extension: department code or name."),
    _q("extensions", "Extension: true adds extended_attributes and notes.", type="boolean"),
    _q("page", "Extension: page number from 1.", type="integer", minimum=1),
    _q(
        "page_size",
        "Extension: records per page, at most 1000 (the default).",
        type="integer",
        minimum=1,
        maximum=1000,
    ),
]
POST_FORM: dict[str, Any] = {
    "type": "object",
    "required": ["api_key", "service_code"],
    "properties": {
        "api_key": {"type": "string"},
        "jurisdiction_id": {"type": "string"},
        "service_code": {"type": "string"},
        "lat": {"type": "number"},
        "long": {"type": "number"},
        "address_string": {"type": "string"},
        "address_id": {"type": "string"},
        "email": {"type": "string"},
        "device_id": {"type": "string"},
        "account_id": {"type": "string"},
        "first_name": {"type": "string"},
        "last_name": {"type": "string"},
        "phone": {"type": "string"},
        "description": {"type": "string", "maxLength": 4000},
        "media_url": {"type": "string"},
        "locale": {"type": "string"},
    },
    "additionalProperties": {"type": "string"},
    "description": "Answers as attribute[CODE]=value, lists as attribute[CODE][]=value.",
}


def _responses(schema: dict[str, Any], ok: str = "200", *codes: str) -> dict[str, Any]:
    responses: dict[str, Any] = {
        ok: {"description": "OK", "content": {"application/json": {"schema": schema}}}
    }
    for code in ("400", *codes):
        responses[code] = {
            "description": "Error list",
            "content": {"application/json": {"schema": ERRORS}},
        }
    return responses


def _xml(summary: str, parameters: list[dict[str, Any]], *codes: str) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {"description": "OK (XML)", "content": {"text/xml": {"schema": {"type": "string"}}}}
    }
    for code in ("400", *codes):
        responses[code] = {
            "description": "Error list (XML)",
            "content": {"text/xml": {"schema": {"type": "string"}}},
        }
    return {
        "get": {"summary": summary + " (XML)", "parameters": parameters, "responses": responses}
    }


def openapi_document(server_url: str = "/") -> dict[str, Any]:
    code_param = {
        "name": "service_code",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    id_param = {
        "name": "service_request_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    token_param = {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}
    ext = _q("extensions", "true adds extended_attributes and notes.", type="boolean")
    paths: dict[str, Any] = {
        "/open311/v2/discovery.json": {
            "get": {
                "summary": "Service discovery",
                "parameters": [],
                "responses": _responses(DISCOVERY),
            }
        },
        "/open311/v2/services.json": {
            "get": {
                "summary": "The services residents can request",
                "parameters": [JURISDICTION],
                "responses": _responses({"type": "array", "items": SERVICE}, "200", "404"),
            }
        },
        "/open311/v2/services/{service_code}.json": {
            "get": {
                "summary": "A service's questions",
                "parameters": [code_param, JURISDICTION],
                "responses": _responses(DEFINITION, "200", "404"),
            }
        },
        "/open311/v2/requests.json": {
            "get": {
                "summary": "Service requests",
                "parameters": LIST_PARAMETERS,
                "responses": _responses({"type": "array", "items": REQUEST}, "200", "404"),
            },
            "post": {
                "summary": "Report a service request",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {"schema": POST_FORM},
                        "multipart/form-data": {
                            "schema": {
                                **POST_FORM,
                                "properties": {
                                    **POST_FORM["properties"],
                                    "media": {"type": "string", "format": "binary"},
                                },
                            }
                        },
                    },
                },
                "responses": _responses(POSTED, "201", "403", "404", "429"),
            },
        },
        "/open311/v2/requests/{service_request_id}.json": {
            "get": {
                "summary": "One service request",
                "parameters": [id_param, JURISDICTION, ext],
                "responses": _responses({"type": "array", "items": REQUEST}, "200", "404"),
            }
        },
        "/open311/v2/tokens/{token}.json": {
            "get": {
                "summary": "The request id behind a token",
                "parameters": [token_param, JURISDICTION],
                "responses": _responses(TOKEN, "200", "404"),
            }
        },
        "/open311/v2/discovery.xml": _xml("Service discovery", []),
        "/open311/v2/services.xml": _xml("Services", [JURISDICTION], "404"),
        "/open311/v2/services/{service_code}.xml": _xml(
            "A service's questions", [code_param, JURISDICTION], "404"
        ),
        "/open311/v2/requests.xml": _xml("Service requests", LIST_PARAMETERS, "404"),
        "/open311/v2/requests/{service_request_id}.xml": _xml(
            "One service request", [id_param, JURISDICTION, ext], "404"
        ),
        "/open311/v2/tokens/{token}.xml": _xml("A token", [token_param, JURISDICTION], "404"),
    }
    # XML is the specification's required format, for posts too: the same form, XML answers.
    paths["/open311/v2/requests.xml"]["post"] = {
        "summary": "Report a service request (XML)",
        "requestBody": paths["/open311/v2/requests.json"]["post"]["requestBody"],
        "responses": {
            code: {
                "description": "Created (XML)" if code == "201" else "Error list (XML)",
                "content": {"text/xml": {"schema": {"type": "string"}}},
            }
            for code in ("201", "400", "403", "404", "429")
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": f"{settings.CIVICDESK_CITY_NAME} Open311 GeoReport v2",
            "version": __version__,
            "description": "GeoReport v2 with the extensions civicdesk serves. Every path "
            "also answers in XML with the .xml suffix.",
        },
        "servers": [{"url": server_url}],
        "paths": paths,
    }


@require_GET
def openapi_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse(openapi_document(request.build_absolute_uri("/").rstrip("/") or "/"))
