"""OpenAPI descriptions of the Mixpanel-compatible ingestion routes.

The routes read their bodies themselves (form, JSON, base64, NDJSON, gzip), so FastAPI
cannot infer these; they are written out here and passed as ``openapi_extra``. Fuzzing
(schemathesis) generates requests from them.
"""

from __future__ import annotations

from typing import Any

_EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["event", "properties"],
    "properties": {
        "event": {"type": "string", "description": "Event name."},
        "properties": {
            "type": "object",
            "description": "Event properties; time, distinct_id, $insert_id and token are special.",
            "properties": {
                "time": {
                    "type": "number",
                    "description": "Seconds or milliseconds since the epoch.",
                },
                "distinct_id": {"type": "string"},
                "$insert_id": {"type": "string", "maxLength": 36},
                "$device_id": {"type": "string"},
                "$user_id": {"type": "string"},
                "token": {"type": "string", "description": "Project token (/track)."},
            },
            "additionalProperties": True,
        },
    },
}

_EVENTS = {"type": "array", "items": _EVENT, "minItems": 1, "maxItems": 2000}

_FORM = {
    "type": "object",
    "properties": {
        "data": {
            "type": "string",
            "description": "The JSON payload (one object or a list), or its padded base64.",
        },
        "verbose": {"type": "string", "enum": ["0", "1"]},
        "ip": {"type": "string", "enum": ["0", "1"]},
    },
    "required": ["data"],
}


def _flag(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "string", "enum": ["0", "1"]},
        "description": description,
    }


_TRACK_PARAMS = [
    _flag("ip", "1: use the request's IP for geolocation and, if missing, the distinct_id."),
    _flag("verbose", "1: answer {status, error} JSON instead of 1/0."),
    _flag("img", "1: answer a 1x1 GIF."),
    {
        "name": "callback",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "JSONP: wrap the answer in a call to this function.",
    },
    {
        "name": "data",
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "GET form of the payload (JSON or base64 JSON).",
    },
]

_TRACK_RESPONSES: dict[str, Any] = {
    "200": {
        "description": "1: at least one record was valid (and is committed).",
        "content": {
            "text/plain": {"schema": {"type": "string", "enum": ["1", "0"]}},
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "status": {"type": "integer", "enum": [0, 1]},
                        "error": {"type": ["string", "null"]},
                    },
                }
            },
        },
    },
    "400": {"description": "0: no record was valid; verbose names the field."},
    "413": {"description": "The uncompressed body exceeds the configured limit."},
    "429": {"description": "The writer is behind; retry after Retry-After seconds."},
}

_IMPORT_RESPONSES: dict[str, Any] = {
    "200": {
        "description": "Every record is stored.",
        "content": {
            "application/json": {
                "example": {"code": 200, "num_records_imported": 2000, "status": "OK"}
            }
        },
    },
    "400": {
        "description": "Some records failed validation; the valid ones are stored.",
        "content": {
            "application/json": {
                "example": {
                    "code": 400,
                    "error": "some data points in the request failed validation",
                    "num_records_imported": 1,
                    "status": "Bad Request",
                    "failed_records": [
                        {
                            "index": 1,
                            "insert_id": "x1",
                            "field": "properties.time",
                            "message": "'properties.time' is invalid: must be specified as seconds since epoch",
                        }
                    ],
                }
            }
        },
    },
    "401": {
        "description": "Bad credentials.",
        "content": {
            "application/json": {
                "example": {"code": 401, "error": "Invalid credentials", "status": "Unauthorized"}
            }
        },
    },
    "413": {"description": "Too large."},
    "429": {"description": "Back-pressure; retry after Retry-After seconds."},
}

TRACK_DOC: dict[str, Any] = {
    "summary": "Track events (Mixpanel /track)",
    "openapi_extra": {
        "parameters": _TRACK_PARAMS,
        "requestBody": {
            "required": False,
            "content": {
                "application/x-www-form-urlencoded": {"schema": _FORM},
                "application/json": {"schema": _EVENTS},
            },
        },
        "responses": _TRACK_RESPONSES,
    },
}

IMPORT_DOC: dict[str, Any] = {
    "summary": "Import events (Mixpanel /import)",
    "openapi_extra": {
        "parameters": [
            _flag("strict", "1 (default): validate every record and report failed_records."),
            {
                "name": "project_id",
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "description": "Project id (service accounts).",
            },
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": _EVENTS},
                "application/x-www-form-urlencoded": {"schema": _FORM},
            },
        },
        "responses": _IMPORT_RESPONSES,
    },
}

_UPDATE = {
    "type": "object",
    "properties": {
        "$token": {"type": "string"},
        "$distinct_id": {"type": "string"},
        "$group_key": {"type": "string"},
        "$group_id": {"type": "string"},
        "$time": {"type": "number"},
        "$ip": {"type": "string"},
        "$ignore_time": {"type": "boolean"},
        "$set": {"type": "object"},
        "$set_once": {"type": "object"},
        "$add": {"type": "object", "additionalProperties": {"type": "number"}},
        "$union": {"type": "object", "additionalProperties": {"type": "array"}},
        "$append": {"type": "object"},
        "$remove": {"type": "object"},
        "$unset": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "$delete": {},
    },
}

_UPDATES_BODY = {
    "required": False,
    "content": {
        "application/x-www-form-urlencoded": {"schema": _FORM},
        "application/json": {"schema": {"type": "array", "items": _UPDATE, "minItems": 1}},
    },
}

ENGAGE_DOC: dict[str, Any] = {
    "summary": "Update user profiles (Mixpanel /engage)",
    "openapi_extra": {
        "parameters": _TRACK_PARAMS[:4],
        "requestBody": _UPDATES_BODY,
        "responses": _TRACK_RESPONSES,
    },
}

GROUPS_DOC: dict[str, Any] = {
    "summary": "Update group profiles (Mixpanel /groups)",
    "openapi_extra": {
        "parameters": _TRACK_PARAMS[1:4],
        "requestBody": _UPDATES_BODY,
        "responses": _TRACK_RESPONSES,
    },
}

LOOKUP_DOC: dict[str, Any] = {
    "summary": "Replace a lookup table with a CSV (whole or not at all)",
    "openapi_extra": {
        "parameters": [
            {"name": "name", "in": "query", "required": False, "schema": {"type": "string"}},
            {"name": "property", "in": "query", "required": False, "schema": {"type": "string"}},
            {"name": "project_id", "in": "query", "required": False, "schema": {"type": "string"}},
        ],
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        "responses": {
            "200": {"description": "Replaced: {code: 200, status: OK}."},
            "400": {"description": "Invalid rows: failed_records lists the first 10."},
            "401": {"description": "Bad credentials."},
            "413": {"description": "Larger than 100 MB uncompressed."},
        },
    },
}


def get_doc(doc: dict[str, Any]) -> dict[str, Any]:
    """The GET variant of a route's description: the payload travels in ``?data=``."""
    extra = {k: v for k, v in doc["openapi_extra"].items() if k != "requestBody"}
    params = list(extra.get("parameters", []))
    if not any(p["name"] == "data" for p in params):
        params.append(
            {"name": "data", "in": "query", "required": False, "schema": {"type": "string"}}
        )
    extra["parameters"] = params
    return {"summary": doc["summary"] + " (GET)", "openapi_extra": extra}
