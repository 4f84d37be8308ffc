"""The admin schedule page's actions: each asks for confirmation first, and refuses what
cannot be done with a sentence, changing nothing."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.db import Database
from app.models import PeriodClose
from tests.app.conftest import client_for
from tests.app.test_claims import _people
from tests.app.test_pages import log_in

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _token(page: str) -> str:
    match = re.search(r'"X-CSRF-Token": "([^"]+)"', page)
    assert match
    return match.group(1)


async def test_close_and_reopen_ask_first_and_refuse_what_cannot_be_done(
    sqlite_db: Database,
) -> None:
    _people(sqlite_db)
    async with client_for(sqlite_db) as c:
        await log_in(c, "admin@example.com")
        page = await c.get("/admin/schedule")
        assert page.status_code == 200
        token = _token(page.text)
        asked = await c.post(
            "/admin/schedule/reopen", data={"period": "2026-10", "reason": "x", "csrf_token": token}
        )
        assert asked.status_code == 200 and "Reopen period 2026-10?" in asked.text
        refused = await c.post(
            "/admin/schedule/reopen",
            data={"period": "2026-10", "reason": "x", "confirm": "1", "csrf_token": token},
        )
        assert refused.status_code == 400 and "is not closed" in refused.text
        running = await c.post(
            "/admin/schedule/close", data={"period": "2026-11", "confirm": "1", "csrf_token": token}
        )
        assert running.status_code == 400 and "has not ended yet" in running.text
        await log_in(c, "rep@example.com")
        assert (
            await c.post(
                "/admin/schedule/close",
                data={"period": "2026-10", "csrf_token": _token((await c.get("/")).text)},
            )
        ).status_code == 403
    with sqlite_db.session() as s:
        assert s.execute(sa.select(sa.func.count()).select_from(PeriodClose)).scalar_one() == 0
