import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import col

from app.db import Database
from app.i18n import gettext
from app.models import User
from app.routes.rules import ACTIVITY_LABEL, CADENCE_WORD, TIE_RULE_WITH_PRIZES
from tests.app.conftest import client_for
from tests.app.test_pages import log_in, people
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


LAUNCH_SCORING = {
    "points_per_unit": "5",
    "amount_step": "1000000",
    "points_per_amount_step": "10",
    "sku_multipliers": {"TV-55": "2"},
    "activity_points": {"training": 50},
    "cap_per_event": 2000,
    "cap_per_period": 5000,
}
TIERS = {"metric": "units", "tiers": [{"name": "Bronze", "threshold": 1, "bonus_points": 1250}]}


def _rules_in_indonesian(text: str) -> None:
    assert '<html lang="id">' in text and "<title>Aturan program · Podium</title>" in text
    assert "<h1>Cara kerja Juara Elektronik 2026</h1>" in text
    assert "<strong>5</strong> poin untuk setiap unit yang Anda jual." in text
    assert "untuk setiap kelipatan penuh Rp 1.000.000 dalam satu baris faktur" in text
    assert "<strong>50</strong> poin untuk menyelesaikan pelatihan." in text
    assert "Maksimal <strong>2.000</strong> poin dari satu baris faktur." in text
    assert "Maksimal <strong>5.000</strong> poin per bulan." in text
    # The worked example: TV-55 at Rp 8.000.000, a launch SKU, earns (5 + 80) x 2 points.
    assert "produk baru ×2" in text and "<td>Rp 8.000.000</td>" in text
    assert "<strong>170</strong> poin</td>" in text
    assert "<h2>Tingkat bulan ini</h2>" in text
    assert "<td>1 unit</td><td><strong>Bronze</strong></td><td>+1.250 poin</td>" in text
    assert "Setiap bulan adalah periode baru, menurut waktu Asia/Jakarta." in text
    assert "Nilai yang sama berbagi peringkat (1, 2, 2, 4)" in text
    assert "dialah yang mendapat hadiah bila terjadi seri" in text
    assert "menurut % dari target Anda sendiri" in text
    for english in ("points", "unit you sell", "Tiers this", "tie-broken prize"):
        assert english not in text


async def test_the_rules_page_speaks_indonesian_to_a_browser_asking_for_it(
    any_db: Database,
) -> None:
    make_world(any_db, scoring=LAUNCH_SCORING, tiers=TIERS)
    async with client_for(any_db) as c:
        page = await c.get("/rules", headers={"Accept-Language": "id-ID,id;q=0.9,en;q=0.8"})
        english = await c.get("/rules", headers={"Accept-Language": "en-US"})
    assert page.status_code == 200
    _rules_in_indonesian(page.text)
    assert "Accept-Language" in page.headers["Vary"]
    # English keeps its singular and plural forms.
    assert "<strong>5,000</strong> points per month." in english.text
    assert "<td>1 unit</td><td><strong>Bronze</strong></td><td>+1,250 points</td>" in english.text
    assert "and wins any tie-broken prize." in english.text


async def test_the_rules_page_follows_the_language_a_user_chose_over_the_browsers(
    any_db: Database,
) -> None:
    make_world(any_db, scoring=LAUNCH_SCORING, tiers=TIERS)
    people(any_db)
    with any_db.write() as s:
        s.execute(sa.update(User).where(col(User.email) == "rep@example.com").values(language="id"))
    async with client_for(any_db) as c:
        c.headers["Accept-Language"] = "en"
        await log_in(c, "rep@example.com")
        page = await c.get("/rules")
    _rules_in_indonesian(page.text)


def test_every_sentence_the_rules_page_builds_in_python_has_an_indonesian_translation() -> None:
    # The tie sentence is built from the boards' TIE_RULE: a change there must reach rules.po.
    assert gettext("id", TIE_RULE_WITH_PRIZES) != TIE_RULE_WITH_PRIZES
    for words in (*ACTIVITY_LABEL.values(), *CADENCE_WORD.values()):
        assert gettext("id", words) != words
