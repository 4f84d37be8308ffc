"""Service-backed tests: they skip on a bare machine and must run (never skip) when CI=true."""

from __future__ import annotations

import os

import pytest


def service_url(variable: str, what: str) -> str:
    """The URL in ``variable``, or skip (fail on CI) with a message naming the variable."""
    url = os.environ.get(variable, "")
    if url:
        return url
    message = f"{what} tests need {variable} (e.g. {EXAMPLES[variable]})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}: on CI they must run, not skip")
    pytest.skip(message)  # only when the variable is not set and CI is not true


EXAMPLES = {
    "PODIUM_TEST_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "PODIUM_TEST_REDIS_URL": "redis://127.0.0.1:6379/0",
}
