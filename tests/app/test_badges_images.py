"""Badge pictures: sizes and modes, text that stays inside its box for long and Indonesian names,
the disk cache, and uploads elsewhere refused before any pixel is decoded."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFile

from app.artwork import (
    BOLD,
    CARD_BOXES,
    CARD_SIZE,
    PALETTES,
    CardText,
    card_layout,
    draw_fitted,
    draw_medallion,
    draw_share_card,
    fit_text,
    medallion_png,
    medallion_text_box,
)
from app.db import Database
from app.photos import PhotoError, reencode_photo
from tests.app.conftest import client_for
from tests.app.test_claims import _people, _png_claiming
from tests.app.test_pages import log_in

SIXTY = "Penghargaan Penjualan Tertinggi Wilayah Kalimantan Timur 2026"[:60]
NAMES = [
    "A",
    "First Sale",
    SIXTY,
    "W" * 60,  # the widest letter, no space to wrap at
    "Juara Nusantara · Penjual Terbaik Triwulan Keempat Jawa Barat",
    "Pelatihan Produk Lengkap: Sertifikasi Teknisi Pendingin Udara",
    "Ñoño Ğüçlü Ýlmaz Åsa Øre Çağrı Şükrü Đặng Thị Ngọc Trâm Zoë",
]


def _ink_box(
    fitted_text: str, box: tuple[int, int, int, int], size: tuple[int, int]
) -> tuple[int, int, int, int] | None:
    """Render the fitted text alone on a blank canvas and measure where its ink actually is."""
    fitted = fit_text(
        fitted_text, box, max_size=size[0] // 11, min_size=max(6, size[0] // 64), max_lines=3
    )
    canvas = Image.new("RGB", size, (0, 0, 0))
    draw_fitted(ImageDraw.Draw(canvas), fitted, (255, 255, 255), BOLD)
    return canvas.getbbox()


@pytest.mark.parametrize("size", [512, 128])
@pytest.mark.parametrize("level", ["", "bronze", "silver", "gold"])
def test_medallions_are_square_rgba_pngs_of_the_asked_size(size: int, level: str) -> None:
    img = draw_medallion(SIXTY, "trophy", level, size)
    assert img.size == (size, size) and img.mode == "RGBA"
    assert img.getpixel((0, 0))[3] == 0  # type: ignore[index]  # transparent corners
    # The face is the level's colour (tolerant: any antialiasing or hinting leaves it so).
    face = PALETTES[level].face
    r, g, b, a = img.getpixel((size // 2, int(size * 0.52)))  # type: ignore[misc]
    assert a == 255 and max(abs(r - face[0]), abs(g - face[1]), abs(b - face[2])) < 40


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("size", [1024, 256])  # the supersampled canvases of 512 and 128
def test_a_name_of_up_to_60_characters_stays_inside_the_ribbon(name: str, size: int) -> None:
    box = medallion_text_box(size)
    fitted = fit_text(name, box, max_size=size // 11, min_size=max(6, size // 64), max_lines=3)
    left, top, right, bottom = box
    for x0, y0, x1, y1 in fitted.boxes:
        assert left <= x0 and x1 <= right and top <= y0 and y1 <= bottom, (fitted, box)
    ink = _ink_box(name, box, (size, size))
    assert ink is not None
    # Measured from the pixels, with one pixel of slack for antialiasing.
    assert ink[0] >= left - 1 and ink[2] <= right + 1 and ink[1] >= top - 1 and ink[3] <= bottom + 1
    assert "".join(fitted.lines).replace("-", "").replace(" ", "") == name.replace(" ", "")


def test_a_long_name_is_wrapped_and_shrunk_not_cut() -> None:
    box = medallion_text_box(1024)
    short = fit_text("First Sale", box, max_size=93, min_size=16, max_lines=3)
    long = fit_text(SIXTY, box, max_size=93, min_size=16, max_lines=3)
    assert len(short.lines) == 1 and len(long.lines) > 1 and long.size < short.size


def test_the_share_card_is_1200_by_630_and_every_text_stays_in_its_box() -> None:
    text = CardText(
        program="Juara Nusantara 2026 · Program Insentif Mitra Penjualan Elektronik Nasional",
        person="Raden Ajeng Siti Nurhaliza Kusumawardhani Prawirodirdjo Hadiningrat",
        company="PT Toko Elektronik Maju Jaya Sentosa Abadi Makmur Sejahtera Tbk",
        badge=SIXTY + " · Gold",
        date="22 Nov 2026",
        earned_label="Diraih pada 22 Nov 2026",
        footer="Verifikasi: https://podium.example/badges/earned/AbCdEfGhIjKlMnOpQrStUvWx",
    )
    img = draw_share_card(text, SIXTY, "crown", "gold")
    assert img.size == CARD_SIZE == (1200, 630) and img.mode == "RGB"
    for key, fitted in card_layout(text).items():
        left, top, right, bottom = CARD_BOXES[key]
        for x0, y0, x1, y1 in fitted.boxes:
            assert left <= x0 and x1 <= right and top <= y0 and y1 <= bottom, key


def test_medallions_are_cached_by_what_they_show_and_redrawn_when_it_changes(
    tmp_path: Path,
) -> None:
    first = medallion_png(tmp_path, "First Sale", "star", "gold", 128)
    cached = sorted(p.name for p in (tmp_path / "badge-art").iterdir())
    assert medallion_png(tmp_path, "First Sale", "star", "gold", 128) == first
    assert sorted(p.name for p in (tmp_path / "badge-art").iterdir()) == cached  # drawn once
    renamed = medallion_png(tmp_path, "Penjualan Pertama", "star", "gold", 128)
    assert renamed != first and len(list((tmp_path / "badge-art").iterdir())) == 2
    with Image.open(io.BytesIO(renamed)) as img:
        assert img.format == "PNG" and img.size == (128, 128) and img.mode == "RGBA"
    with pytest.raises(ValueError, match="512 and 128"):
        medallion_png(tmp_path, "First Sale", "star", "gold", 4096)


# --- uploads elsewhere: refused before decoding ----------------------------------------------------


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Records every pixel decode Pillow starts (the bomb tests require none), with Pillow's own
    bomb limit switched off as a deployment might: our size check must stand on its own."""
    calls: list[str] = []
    original = ImageFile.ImageFile.load

    def spy(self: ImageFile.ImageFile) -> object:
        calls.append(f"{self.format} {self.size}")
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    yield calls


@pytest.mark.parametrize("size", [(100_000, 100_000), (60_000, 2_000), (1, 10**9)])
def test_a_decompression_bomb_photo_is_refused_before_any_pixel_is_decoded(
    decodes: list[str], size: tuple[int, int]
) -> None:
    with pytest.raises(PhotoError, match="too many pixels"):
        reencode_photo(_png_claiming(*size))
    assert decodes == []


def test_a_100_mb_photo_is_refused_by_its_length_before_pillow_sees_it(decodes: list[str]) -> None:
    with pytest.raises(PhotoError, match="larger than 5 MB"):
        reencode_photo(b"\x89PNG\r\n\x1a\n" + bytes(100 * 1024 * 1024))
    assert decodes == []


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_a_100_mb_upload_is_refused_at_the_door_and_nothing_is_stored(
    sqlite_db: Database, tmp_path: Path, decodes: list[str]
) -> None:
    _people(sqlite_db)
    async with client_for(sqlite_db, PODIUM_DATA_DIR=str(tmp_path)) as c:
        await log_in(c, "rep@example.com")
        page = await c.get("/claims")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        r = await c.post(
            "/claims",
            data={
                "csrf_token": token,
                "invoice": "INV-1",
                "day": "2026-11-20",
                "sku": "TV-55",
                "units": "1",
                "amount": "1000000",
            },
            files={
                "photo": ("huge.png", b"\x89PNG\r\n\x1a\n" + bytes(100 * 1024 * 1024), "image/png")
            },
        )
    assert r.status_code == 413
    assert decodes == []
    assert not (tmp_path / "claims").exists() or not any((tmp_path / "claims").iterdir())
