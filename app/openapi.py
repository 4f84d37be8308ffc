"""The OpenAPI 3.1 document of the JSON API, with schemas taken from the validating models."""

from __future__ import annotations

from typing import Any

from app.ingest import EventIn
from app.settings import Settings

REF = "#/components/schemas/{model}"
METRICS = ["points", "units", "revenue", "target_pct", "growth_pct"]


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


_CHALLENGE = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "description": {"type": "string"},
        "kind": {"type": "string", "enum": ["target", "race", "top", "team", "h2h"]},
        "audience": {"type": "string", "enum": ["rep", "partner"]},
        "metric": {"type": "string", "enum": ["units", "revenue", "points", "events"]},
        "status": {
            "type": "string",
            "enum": ["scheduled", "live", "ended", "settled", "cancelled"],
        },
        "starts_at": {"type": "string", "format": "date-time"},
        "ends_at": {"type": "string", "format": "date-time", "description": "exclusive"},
        "target": {"type": ["integer", "null"]},
        "winners": {"type": ["integer", "null"]},
        "enrolment": {"type": "string", "enum": ["auto", "opt_in"]},
        "reward_points": {"type": "integer"},
        "reward_badge": {"type": ["string", "null"]},
    },
}


def _challenge_paths() -> dict[str, Any]:
    """Challenges (SPIFs): the list, and one participant's progress in one."""
    return {
        "/api/v1/challenges": {
            "get": {
                "summary": "The program's challenges (drafts are never listed)",
                "operationId": "listChallenges",
                "parameters": [
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {
                            "type": "string",
                            "enum": ["scheduled", "live", "ended", "settled", "cancelled"],
                        },
                    }
                ],
                "responses": {
                    "200": {
                        "description": "Newest window first",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "challenges": {"type": "array", "items": _CHALLENGE}
                                    },
                                }
                            }
                        },
                    },
                    "400": _error("An unknown status"),
                    "401": _error("Missing, unknown or revoked API key"),
                },
            }
        },
        "/api/v1/challenges/{challenge_id}/progress/{code}": {
            "get": {
                "summary": "A rep's or partner's progress and position in a challenge",
                "description": "Ranking is standard competition ranking (1, 2, 2, 4); within a "
                "tie whoever reached the value first is listed first. Revenue is in minor units.",
                "operationId": "getChallengeProgress",
                "parameters": [
                    {
                        "name": "challenge_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer"},
                    },
                    {"name": "code", "in": "path", "required": True, "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {
                        "description": "The participant's progress",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "challenge": _CHALLENGE,
                                        "participant": {"type": "string"},
                                        "value": {"type": "integer"},
                                        "rank": {"type": ["integer", "null"]},
                                        "goal": {"type": "integer"},
                                        "reached": {"type": "boolean"},
                                        "leaders": {"type": "array", "items": {"type": "object"}},
                                    },
                                }
                            }
                        },
                    },
                    "401": _error("Missing, unknown or revoked API key"),
                    "404": _error("No such challenge, participant, or not in its scope"),
                },
            }
        },
    }


def openapi_document(settings: Settings) -> dict[str, Any]:
    event_schema = EventIn.model_json_schema(ref_template=REF)
    defs = event_schema.pop("$defs", {})
    report = {
        "type": "object",
        "required": ["accepted", "duplicates", "rejected"],
        "properties": {
            "accepted": {"type": "integer", "description": "events stored and scored"},
            "duplicates": {"type": "integer", "description": "repeats that changed nothing"},
            "rejected": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["index", "error"],
                    "properties": {"index": {"type": "integer"}, "error": {"type": "string"}},
                },
            },
            "duplicate_of": {
                "type": "array",
                "description": "for each duplicate, the external id it repeats",
                "items": {
                    "type": "object",
                    "properties": {"index": {"type": "integer"}, "of": {"type": "string"}},
                },
            },
        },
    }
    money = {
        "type": "object",
        "properties": {"amount": {"type": "string"}, "currency": {"type": "string"}},
    }
    participant = {
        "type": "object",
        "properties": {
            "kind": {"type": "string", "enum": ["rep", "partner"]},
            "code": {"type": "string"},
            "name": {"type": "string"},
            "partner": {
                "type": "object",
                "properties": {"code": {"type": "string"}, "name": {"type": "string"}},
            },
            "region": {"type": "string"},
            "league": {"type": "string"},
            "balance": {"type": "integer", "description": "sum of all ledger entries"},
            "all_time_points": {"type": "integer"},
            "period": {
                "type": "object",
                "properties": {
                    "key": {"type": "string", "examples": ["2026-11"]},
                    "start": {"type": "string", "format": "date-time"},
                    "end": {"type": "string", "format": "date-time"},
                    "points": {"type": "integer"},
                    "units": {"type": "integer"},
                    "revenue": money,
                    "events": {"type": "integer"},
                },
            },
            "tier": {
                "type": "object",
                "properties": {
                    "metric": {"type": "string"},
                    "value": {"type": "integer"},
                    "current": {"type": ["string", "null"]},
                    "next": {"type": ["string", "null"]},
                    "missing": {"type": "integer"},
                },
            },
        },
    }
    board_row = {
        "type": "object",
        "required": ["rank", "position", "tied", "code", "name", "value"],
        "properties": {
            "rank": {
                "type": "integer",
                "description": "standard competition rank: equal values share a rank (1, 2, 2, 4)",
            },
            "position": {
                "type": "integer",
                "description": "1-based place in list order; within a tie, who reached the "
                "value first comes first",
            },
            "tied": {"type": "boolean", "description": "another row has the same value"},
            "code": {"type": "string"},
            "name": {"type": "string", "description": "'Anonymous' for those who opted out"},
            "value": {"type": "integer", "description": "in value_unit"},
        },
    }
    leaderboard = {
        "type": "object",
        "required": [
            "program",
            "period",
            "audience",
            "scope",
            "metric",
            "value_unit",
            "size",
            "rule",
            "rows",
        ],
        "properties": {
            "program": {"type": "string"},
            "period": {"type": "string", "examples": ["2026-11", "all"]},
            "audience": {"type": "string", "enum": ["reps", "partners"]},
            "scope": {"type": "string", "examples": ["everyone", "region:JKT"]},
            "metric": {"type": "string", "enum": METRICS},
            "value_unit": {
                "type": "string",
                "enum": ["points", "units", "minor currency units", "basis points"],
                "description": "revenue is in minor units (cents, sen); percentages in "
                "basis points (11250 = 112.5 %)",
            },
            "currency": {"type": "string", "description": "for revenue boards"},
            "size": {"type": "integer", "description": "participants on the board"},
            "rule": {"type": "string", "description": "the tie rule, to print beside the board"},
            "rows": {"type": "array", "items": {"$ref": "#/components/schemas/BoardRow"}},
            "around": {
                "type": "object",
                "description": "when asked with around=CODE",
                "required": ["code", "standing", "rows"],
                "properties": {
                    "code": {"type": "string"},
                    "standing": {
                        "description": "null when the participant is not on this board",
                        "oneOf": [{"$ref": "#/components/schemas/BoardRow"}, {"type": "null"}],
                    },
                    "rows": {
                        "type": "array",
                        "description": "up to 5 rows either side of the participant",
                        "items": {"$ref": "#/components/schemas/BoardRow"},
                    },
                },
            },
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Podium API",
            "version": "1",
            "description": "Push sales and activities; read a participant's standing. "
            "Authenticate with `Authorization: Bearer <api key>` (`podium apikey create NAME`).",
        },
        "servers": [{"url": settings.base_url}],
        "security": [{"apiKey": []}],
        "paths": {
            "/api/v1/events": {
                "post": {
                    "summary": "Ingest events (idempotent)",
                    "description": (
                        f"Up to {settings.max_events_per_request} events per request. Each event is "
                        "validated on its own: good events are kept even when others are bad. "
                        "Sending the same id again changes nothing; the same invoice line "
                        "(case, spaces and leading zeros ignored) under another id or rep is a "
                        "duplicate. 200: nothing rejected; 207: some rejected; 422: all rejected."
                    ),
                    "operationId": "ingestEvents",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["events"],
                                    "properties": {
                                        "events": {
                                            "type": "array",
                                            "minItems": 1,
                                            "maxItems": settings.max_events_per_request,
                                            "items": {"$ref": "#/components/schemas/Event"},
                                        }
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "All events accepted or duplicates",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/IngestReport"}
                                }
                            },
                        },
                        "207": {
                            "description": "Some events rejected; the others were kept",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/IngestReport"}
                                }
                            },
                        },
                        "400": _error("The body is not JSON"),
                        "401": _error("Missing, unknown or revoked API key"),
                        "413": _error("Too many events or too large a body"),
                        "422": _error("The envelope is wrong, or every event was rejected"),
                    },
                }
            },
            "/api/v1/participants/{code}": {
                "get": {
                    "summary": "A rep's or partner's balance and current-period totals",
                    "operationId": "getParticipant",
                    "parameters": [
                        {
                            "name": "code",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The participant",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Participant"}
                                }
                            },
                        },
                        "401": _error("Missing, unknown or revoked API key"),
                        "404": _error("No such participant"),
                    },
                }
            },
            "/api/v1/leaderboards/{program}/{scope}/{metric}": {
                "get": {
                    "summary": "One leaderboard: top rows, size, and the rows around a participant",
                    "description": (
                        "Ranking is standard competition ranking: equal values share a rank "
                        "(1, 2, 2, 4), and within a tie whoever reached the value first is listed "
                        "first. Percent boards leave out participants without a target or a "
                        "baseline. 400: a bad scope, metric, period, audience or limit."
                    ),
                    "operationId": "getLeaderboard",
                    "parameters": [
                        {
                            "name": "program",
                            "in": "path",
                            "required": True,
                            "description": "the program code; must be the API key's program",
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "scope",
                            "in": "path",
                            "required": True,
                            "description": "everyone, region:CODE, league:CODE or team:PARTNER",
                            "schema": {"type": "string", "examples": ["everyone", "region:JKT"]},
                        },
                        {
                            "name": "metric",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "enum": METRICS},
                        },
                        {
                            "name": "period",
                            "in": "query",
                            "description": "a period key (2026-11) or all; default the current "
                            "period. Percent metrics need a period.",
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "audience",
                            "in": "query",
                            "schema": {
                                "type": "string",
                                "enum": ["reps", "partners"],
                                "default": "reps",
                            },
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": 100,
                                "default": 10,
                            },
                        },
                        {
                            "name": "around",
                            "in": "query",
                            "description": "a rep or partner code: also return its standing "
                            "and the 5 rows either side",
                            "schema": {"type": "string"},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "The board",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Leaderboard"}
                                }
                            },
                        },
                        "400": _error("A bad scope, metric, period, audience or limit"),
                        "401": _error("Missing, unknown or revoked API key"),
                        "403": _error("The program is not the API key's program"),
                        "404": _error("The around participant does not exist"),
                    },
                }
            },
            **_challenge_paths(),
        },
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                **defs,
                "Event": event_schema,
                "IngestReport": report,
                "Participant": participant,
                "BoardRow": board_row,
                "Leaderboard": leaderboard,
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                },
            },
        },
    }
