"""The OpenAPI 3 document, generated from the intake forms and the representation's shape."""

from django import forms

from core.iso_codes import COUNTRIES, LANGUAGES
from flows.forms import ActivityForm, IsoDateTimeField, LeadIntakeForm, StrictIntegerField
from routing.models import Activity, Lead, LeadEvent, Priority


def _field_schema(field: forms.Field) -> dict:
    if isinstance(field, StrictIntegerField):
        schema = {"type": "integer"}
        if field.min_value is not None:
            schema["minimum"] = field.min_value
        if field.max_value is not None:
            schema["maximum"] = field.max_value
    elif isinstance(field, IsoDateTimeField):
        schema = {"type": "string", "format": "date-time"}
    elif isinstance(field, forms.ChoiceField):
        schema = {"type": "string", "enum": [value for value, _label in field.choices]}
    else:
        schema = {"type": "string"}
        if isinstance(field, forms.EmailField):
            schema["format"] = "email"
        if isinstance(field, forms.SlugField):
            schema["pattern"] = "^[-a-zA-Z0-9_]+$"
        if getattr(field, "max_length", None):
            schema["maxLength"] = field.max_length
    if field.help_text:
        schema["description"] = str(field.help_text)
    return schema


# What the forms check beyond a field's type and length (flows/forms.py clean_<field>).
FIELD_CONSTRAINTS = {
    "country": {"enum": sorted(COUNTRIES), "minLength": 2, "description": 'ISO 3166-1 alpha-2 (any case); default "PL".'},
    "language": {"enum": sorted(LANGUAGES), "minLength": 2, "description": 'ISO 639-1 (any case); default "pl".'},
    "email": {"minLength": 3},
}


def form_schema(form_class: type[forms.Form], *, extra: bool) -> dict:
    fields = form_class.base_fields
    schema = {
        "type": "object",
        "properties": {name: {**_field_schema(field), **FIELD_CONSTRAINTS.get(name, {})} for name, field in fields.items()},
        "required": [name for name, field in fields.items() if field.required],
        "additionalProperties": extra,
    }
    if extra:
        schema["description"] = "Any other field is kept in `extra`; rule conditions can use it as `extra.<key>`."
    return schema


MAX_ID = 2**63 - 1  # a lead id is a 64-bit integer


def _nullable(schema: dict) -> dict:
    # OpenAPI 3.0.3: an enum does not admit null unless it lists it, nullable or not.
    enum = {"enum": [*schema["enum"], None]} if "enum" in schema else {}
    return {**schema, **enum, "nullable": True}


def lead_schema() -> dict:
    dt = {"type": "string", "format": "date-time"}
    return {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "status": {"type": "string", "enum": list(Lead.Status.values)},
            "owner": _nullable({"type": "object", "properties": {"name": {"type": "string"}, "email": {"type": "string", "format": "email"}}}),
            "rule": _nullable({"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}}),
            "priority": _nullable({"type": "string", "enum": list(Priority.values)}),
            "submitted_at": dt,
            "received_at": dt,
            "sla_due_at": _nullable(dt),
            "first_response_at": _nullable(dt),
            "explanation": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Each rule checked and why it did or did not match (past 15 rules checked before the one that won: the first and last five, any whose conditions held but that could name no owner, and each run of the others as one line with its count); each rep skipped and why.",
            },
            "score": _nullable({"type": "integer", "description": "The points of the score rules the lead met; null for a lead stored before scoring."}),
            "score_breakdown": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"points": {"type": "integer"}, "why": {"type": "string"}},
                    "required": ["points", "why"],
                },
                "description": "One line per score rule the lead met, in the score rules' order.",
            },
            "events": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string", "enum": list(LeadEvent.Type.values)},
                        "at": dt,
                        "rep": _nullable({"type": "string", "format": "email"}),
                        "detail": {"type": "string"},
                    },
                },
            },
        },
        "required": [
            "status",
            "owner",
            "rule",
            "priority",
            "submitted_at",
            "received_at",
            "sla_due_at",
            "first_response_at",
            "explanation",
            "score",
            "score_breakdown",
        ],
    }


ERRORS = {
    "type": "object",
    "properties": {"errors": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}},
    "required": ["errors"],
    "example": {"errors": {"email": ["Enter a valid email address."]}},
}


def _json(ref: str, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


def openapi_document(*, base_url: str) -> dict:
    bad = _json("Errors", "Bad input; nothing is stored")
    unauthorized = _json("Errors", "Missing, wrong or revoked token; nothing is stored")
    not_found = _json("Errors", "No such lead")
    # Every answer of the API, also these, is JSON (routing/door.py).
    common = {
        "405": _json("Errors", "Method not allowed (the Allow header lists the allowed ones)"),
        "503": _json("Errors", "The database is unavailable; nothing is stored. Retry after Retry-After seconds"),
    }
    authed = {
        "401": unauthorized,
        "429": _json("Errors", "Too many requests for this token (INTAKE_RATE_LIMIT); retry after Retry-After seconds"),
        **common,
    }
    with_body = {
        "411": _json("Errors", "A chunked body on a server that cannot tell where it ends: send Content-Length"),
        "413": _json("Errors", "Body larger than 1 MB"),
    }
    lead_id = {"name": "lead_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID}}
    intake_body = {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/LeadIntake"}},
            "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/LeadIntake"}},
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Leadrouter intake API",
            "version": "1",
            "description": "Take in, route and follow B2B sales leads. Times are ISO 8601 with an offset.",
        },
        "servers": [{"url": base_url.rstrip("/")}],
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/leads/": {
                "post": {
                    "summary": "Take in and route one lead",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "maxLength": 200},
                            "description": "A retry with the same key (or the same external_id) from the same source returns the earlier lead with 200.",
                        }
                    ],
                    "requestBody": intake_body,
                    "responses": {
                        "201": _json("Lead", "The lead, routed (or, for a web form's filled honeypot field, a decoy: nothing stored)"),
                        "200": _json("Lead", "A retry: the earlier lead; nothing new stored"),
                        "400": bad,
                        **authed,
                        **with_body,
                    },
                },
                "get": {
                    "summary": "Leads by e-mail, newest first",
                    "parameters": [
                        {"name": "email", "in": "query", "schema": {"type": "string", "maxLength": 254}},
                        {
                            "name": "before",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 0, "maximum": 10**18 - 1},
                            "description": "Page cursor (from `next`).",
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "A page of leads",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "results": {"type": "array", "items": {"$ref": "#/components/schemas/Lead"}},
                                            "next": {"type": "string", "format": "uri", "nullable": True},
                                        },
                                        "required": ["results", "next"],
                                    }
                                }
                            },
                        },
                        "400": _json("Errors", "A bad cursor or e-mail"),
                        **authed,
                    },
                },
            },
            "/api/v1/leads/{lead_id}/": {
                "get": {
                    "summary": "One lead",
                    "parameters": [lead_id],
                    "responses": {"200": _json("Lead", "The lead"), "404": not_found, **authed},
                }
            },
            "/api/v1/route/preview": {
                "post": {
                    "summary": "What would happen to this lead now (stores nothing, moves no round-robin pointer)",
                    "requestBody": intake_body,
                    "responses": {"200": _json("LeadPreview", "The decision"), "400": bad, **authed, **with_body},
                }
            },
            "/api/v1/leads/{lead_id}/activities/": {
                "post": {
                    "summary": "Log a call, e-mail, meeting or note; the first call / e-mail / meeting stops the SLA clock",
                    "parameters": [lead_id],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ActivityIn"}}}},
                    "responses": {"201": _json("Activity", "Logged"), "400": bad, "404": not_found, **authed, **with_body},
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "summary": "This document",
                    "security": [],
                    "responses": {
                        "200": {"description": "OpenAPI 3", "content": {"application/json": {"schema": {"type": "object"}}}},
                        "405": common["405"],
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "One token per intake source."}},
            "schemas": {
                "LeadIntake": form_schema(LeadIntakeForm, extra=True),
                "Lead": lead_schema(),
                "LeadPreview": {**lead_schema(), "description": "As Lead, without id and events."},
                "ActivityIn": form_schema(ActivityForm, extra=False),
                "Activity": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "kind": {"type": "string", "enum": list(Activity.Kind.values)},
                        "at": {"type": "string", "format": "date-time"},
                        "rep": {"type": "string", "format": "email", "nullable": True},
                        "outcome": {"type": "string"},
                        "lead": {"$ref": "#/components/schemas/Lead"},
                    },
                },
                "Errors": ERRORS,
            },
        },
    }
