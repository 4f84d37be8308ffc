import httpx
import pytest

from app.db import Database
from tests.app.conftest import client_for
from tests.factories import make_world

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_the_rules_page_says_if_i_sell_x_i_get_y_with_the_programs_own_numbers(
    sqlite_db: Database,
) -> None:
    make_world(
        sqlite_db,
        scoring={
            "points_per_unit": "5",
            "amount_step": "1000000",
            "points_per_amount_step": "10",
            "sku_multipliers": {"TV-55": "2"},
            "activity_points": {"training": 50},
            "cap_per_event": 2000,
        },
    )
    async with client_for(sqlite_db) as c:
        page: httpx.Response = await c.get("/rules")
    assert page.status_code == 200
    text = page.text
    assert "<strong>5</strong> points for every unit you sell" in text
    assert "points for completing a training" in text and "<strong>50</strong>" in text
    assert "At most <strong>2,000</strong> points from one invoice line" in text
    # TV-55 at Rp 8.000.000 is a launch SKU: (5 + 8 x 10) x 2 = 170 points for one unit.
    assert "<strong>170</strong> points" in text
    # RC-01 at Rp 600.000: 5 points (no full million).
    assert "<strong>5</strong> points</td>" in text
    assert "Bronze" in text and "100 units" in text
    assert "Equal values share a rank (1, 2, 2, 4)" in text
