"""Badge artwork drawn with Pillow: medallions (512 and 128 px) and 1200x630 share cards.

Everything is drawn from primitives and the bundled DejaVu Sans (static/fonts, Bitstream Vera
licence), so the pictures look the same on every machine and need no network. Text is fitted,
never clipped: it is wrapped at spaces (inside a word only when one word alone is too wide) and
shrunk until every line lies inside its box; ``fit_text`` returns the lines with their boxes
so tests can check exactly that. Medallions are cached on disk under a hash of what they show,
so an edited badge gets new artwork and an unchanged one is drawn once.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from app.settings import ROOT

FONT_DIR = ROOT / "static" / "fonts"
REGULAR = FONT_DIR / "DejaVuSans.ttf"
BOLD = FONT_DIR / "DejaVuSans-Bold.ttf"
ART_VERSION = 1  # bump when the drawing changes: every cached picture is redrawn
MEDALLION_SIZES = (512, 128)
CARD_SIZE = (1200, 630)
SUPERSAMPLE = 2  # drawn at twice the size, then reduced: smooth edges without a vector library

Box = tuple[int, int, int, int]  # left, top, right, bottom
RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Palette:
    face: RGB
    rim: RGB
    ink: RGB
    ribbon: RGB
    ribbon_ink: RGB


PALETTES = {
    "": Palette((17, 122, 90), (8, 77, 56), (255, 255, 255), (255, 255, 255), (8, 77, 56)),
    "bronze": Palette(
        (205, 127, 50), (120, 72, 28), (255, 246, 234), (92, 52, 18), (255, 240, 224)
    ),
    "silver": Palette(
        (192, 199, 207), (110, 119, 130), (40, 48, 58), (64, 74, 86), (245, 247, 250)
    ),
    "gold": Palette((242, 199, 68), (168, 120, 10), (90, 60, 0), (120, 82, 0), (255, 248, 220)),
}


@cache
def font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size)


# --- text fitting ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FittedText:
    size: int
    lines: tuple[str, ...]
    boxes: tuple[Box, ...]  # where each line's ink lies, in the canvas


def _wrap(text: str, face: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """Greedy wrap at spaces; a word wider than the box is cut between characters."""
    lines: list[str] = []
    for word in text.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and face.getlength(candidate) <= width:
            lines[-1] = candidate
            continue
        while face.getlength(word) > width and len(word) > 1:
            cut = len(word) - 1
            while cut > 1 and face.getlength(word[:cut] + "-") > width:
                cut -= 1
            lines.append(word[:cut] + "-")
            word = word[cut:]
        lines.append(word)
    return lines or [""]


def fit_text(
    text: str,
    box: Box,
    path: Path = BOLD,
    max_size: int = 48,
    min_size: int = 8,
    max_lines: int = 4,
    spacing: float = 0.18,
    align: str = "center",
) -> FittedText:
    """The largest size at which ``text`` wraps into ``box`` in at most ``max_lines`` lines,
    with each line's position (centred vertically; centred or left-aligned). At ``min_size``
    the text is still fitted: extra lines are allowed then, as long as they fit the height."""
    left, top, right, bottom = box
    width, height = right - left, bottom - top
    text = " ".join(text.split())
    for size in range(max_size, min_size - 1, -1):
        face = font(path, size)
        lines = _wrap(text, face, width)
        ascent, descent = face.getmetrics()
        line_height = ascent + descent
        gap = int(size * spacing)
        total = len(lines) * line_height + (len(lines) - 1) * gap
        if total > height or (len(lines) > max_lines and size > min_size):
            continue
        y = top + (height - total) // 2
        boxes = []
        for line in lines:
            w = math.ceil(face.getlength(line))
            x = left + (width - w) // 2 if align == "center" else left
            boxes.append((x, y, x + w, y + line_height))
            y += line_height + gap
        return FittedText(size, tuple(lines), tuple(boxes))
    raise ValueError(f"'{text[:40]}…' does not fit a {width}x{height} box even at {min_size} px")


def draw_fitted(
    draw: ImageDraw.ImageDraw, fitted: FittedText, fill: RGB, path: Path = BOLD
) -> None:
    face = font(path, fitted.size)
    for line, (x, y, _, _) in zip(fitted.lines, fitted.boxes, strict=True):
        draw.text((x, y), line, font=face, fill=fill)


# --- shapes and glyphs -------------------------------------------------------------------------


def _polygon(
    cx: float, cy: float, radius: float, sides: int, rotation: float = -90
) -> list[tuple[float, float]]:
    return [
        (
            cx + radius * math.cos(math.radians(rotation + 360 * i / sides)),
            cy + radius * math.sin(math.radians(rotation + 360 * i / sides)),
        )
        for i in range(sides)
    ]


def _star(
    cx: float, cy: float, outer: float, inner: float, points: int = 5
) -> list[tuple[float, float]]:
    out = []
    for i in range(points * 2):
        r = outer if i % 2 == 0 else inner
        angle = math.radians(-90 + 180 * i / points)
        out.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
    return out


def _shape(
    draw: ImageDraw.ImageDraw, level: str, c: float, r: float, fill: RGB, outline: RGB, width: int
) -> None:
    """Bronze a disc, silver a hexagon, gold a 16-point seal, no level a rounded shield."""
    match level:
        case "silver":
            draw.polygon(
                _polygon(c, c, r, 6, rotation=-90), fill=fill, outline=outline, width=width
            )
        case "gold":
            draw.polygon(_star(c, c, r, r * 0.9, 16), fill=fill, outline=outline, width=width)
        case "bronze":
            draw.ellipse((c - r, c - r, c + r, c + r), fill=fill, outline=outline, width=width)
        case _:
            draw.rounded_rectangle(
                (c - r * 0.86, c - r, c + r * 0.86, c + r),
                radius=r * 0.45,
                fill=fill,
                outline=outline,
                width=width,
            )


def _glyph(draw: ImageDraw.ImageDraw, icon: str, cx: float, cy: float, s: float, ink: RGB) -> None:
    """An icon of size ``s`` centred at (cx, cy), from Pillow primitives only."""
    w = max(2, int(s / 12))
    match icon:
        case "trophy":
            draw.pieslice(
                (cx - s * 0.45, cy - s * 0.75, cx + s * 0.45, cy + s * 0.25), 0, 180, fill=ink
            )
            draw.rectangle((cx - s * 0.45, cy - s * 0.5, cx + s * 0.45, cy - s * 0.25), fill=ink)
            draw.arc((cx - s * 0.7, cy - s * 0.45, cx - s * 0.3, cy), 90, 270, fill=ink, width=w)
            draw.arc((cx + s * 0.3, cy - s * 0.45, cx + s * 0.7, cy), 270, 90, fill=ink, width=w)
            draw.rectangle((cx - s * 0.07, cy + s * 0.2, cx + s * 0.07, cy + s * 0.45), fill=ink)
            draw.rectangle((cx - s * 0.3, cy + s * 0.45, cx + s * 0.3, cy + s * 0.58), fill=ink)
        case "flame":
            draw.polygon(
                [
                    (cx, cy - s * 0.7),
                    (cx + s * 0.42, cy),
                    (cx + s * 0.3, cy + s * 0.45),
                    (cx - s * 0.3, cy + s * 0.45),
                    (cx - s * 0.42, cy),
                ],
                fill=ink,
            )
            draw.ellipse((cx - s * 0.42, cy - s * 0.2, cx + s * 0.42, cy + s * 0.6), fill=ink)
        case "bolt":
            draw.polygon(
                [
                    (cx + s * 0.1, cy - s * 0.7),
                    (cx - s * 0.4, cy + s * 0.1),
                    (cx - s * 0.02, cy + s * 0.1),
                    (cx - s * 0.15, cy + s * 0.7),
                    (cx + s * 0.4, cy - s * 0.12),
                    (cx + s * 0.02, cy - s * 0.12),
                ],
                fill=ink,
            )
        case "book":
            draw.rectangle(
                (cx - s * 0.6, cy - s * 0.4, cx - s * 0.04, cy + s * 0.45), outline=ink, width=w
            )
            draw.rectangle(
                (cx + s * 0.04, cy - s * 0.4, cx + s * 0.6, cy + s * 0.45), outline=ink, width=w
            )
            for i in range(3):
                y = cy - s * 0.2 + i * s * 0.18
                draw.line((cx - s * 0.48, y, cx - s * 0.16, y), fill=ink, width=max(1, w // 2))
                draw.line((cx + s * 0.16, y, cx + s * 0.48, y), fill=ink, width=max(1, w // 2))
        case "target":
            for i, k in enumerate((0.62, 0.42, 0.2)):
                bounds = (cx - s * k, cy - s * k, cx + s * k, cy + s * k)
                draw.ellipse(bounds, fill=ink if i == 2 else None, outline=ink, width=w)
        case "rocket":
            draw.ellipse((cx - s * 0.22, cy - s * 0.7, cx + s * 0.22, cy + s * 0.35), fill=ink)
            draw.polygon(
                [(cx - s * 0.2, cy), (cx - s * 0.45, cy + s * 0.45), (cx - s * 0.12, cy + s * 0.3)],
                fill=ink,
            )
            draw.polygon(
                [(cx + s * 0.2, cy), (cx + s * 0.45, cy + s * 0.45), (cx + s * 0.12, cy + s * 0.3)],
                fill=ink,
            )
            draw.polygon(
                [(cx - s * 0.1, cy + s * 0.4), (cx, cy + s * 0.7), (cx + s * 0.1, cy + s * 0.4)],
                fill=ink,
            )
        case "crown":
            draw.polygon(
                [
                    (cx - s * 0.6, cy + s * 0.35),
                    (cx - s * 0.6, cy - s * 0.35),
                    (cx - s * 0.3, cy),
                    (cx, cy - s * 0.5),
                    (cx + s * 0.3, cy),
                    (cx + s * 0.6, cy - s * 0.35),
                    (cx + s * 0.6, cy + s * 0.35),
                ],
                fill=ink,
            )
            draw.rectangle((cx - s * 0.6, cy + s * 0.42, cx + s * 0.6, cy + s * 0.55), fill=ink)
        case "handshake":
            draw.rounded_rectangle(
                (cx - s * 0.7, cy - s * 0.15, cx + s * 0.05, cy + s * 0.2),
                radius=s * 0.12,
                fill=ink,
            )
            draw.rounded_rectangle(
                (cx - s * 0.05, cy - s * 0.3, cx + s * 0.7, cy + s * 0.05),
                radius=s * 0.12,
                fill=ink,
            )
        case _:  # star
            draw.polygon(_star(cx, cy, s * 0.7, s * 0.3), fill=ink)


# --- medallions --------------------------------------------------------------------------------


def art_key(name: str, icon: str, level: str) -> str:
    """What a medallion shows, hashed: the cache key (a changed name draws a new picture)."""
    shown = json.dumps([ART_VERSION, name, icon, level], ensure_ascii=False)
    return hashlib.sha256(shown.encode()).hexdigest()[:32]


def medallion_text_box(size: int) -> Box:
    """Where the name goes on a medallion of ``size`` px: the ribbon across its lower half."""
    return (round(size * 0.14), round(size * 0.6), round(size * 0.86), round(size * 0.82))


def draw_medallion(name: str, icon: str, level: str, size: int = 512) -> Image.Image:
    """A square RGBA medallion: shape and colours by level, the icon, the name on a ribbon."""
    big = size * SUPERSAMPLE
    palette = PALETTES.get(level, PALETTES[""])
    img = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    c, r = big / 2, big * 0.46
    _shape(draw, level, c, r, palette.rim, palette.rim, 1)
    _shape(draw, level, c, r * 0.88, palette.face, palette.ink, max(2, big // 128))
    _glyph(draw, icon, c, big * 0.36, big * 0.2, palette.ink)
    left, top, right, bottom = medallion_text_box(big)
    draw.rounded_rectangle(
        (left - big * 0.04, top, right + big * 0.04, bottom), radius=big * 0.03, fill=palette.ribbon
    )
    pad = big // 64
    fitted = fit_text(
        name,
        (left, top + pad, right, bottom - pad),
        max_size=big // 11,
        min_size=max(6, big // 64),
        max_lines=3,
    )
    draw_fitted(draw, fitted, palette.ribbon_ink)
    return img.resize((size, size), Image.Resampling.LANCZOS)


def png_bytes(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)  # readers never see half a picture


def medallion_png(data_dir: Path, name: str, icon: str, level: str, size: int) -> bytes:
    """The medallion as PNG bytes, from the disk cache or drawn (and cached) now."""
    if size not in MEDALLION_SIZES:
        raise ValueError(f"medallions come in {' and '.join(map(str, MEDALLION_SIZES))} px")
    path = data_dir / "badge-art" / f"{art_key(name, icon, level)}-{size}.png"
    if path.is_file():
        return path.read_bytes()
    data = png_bytes(draw_medallion(name, icon, level, size))
    _write_atomically(path, data)
    return data


# --- share cards -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CardText:
    program: str
    person: str  # display name, "Anonymous" if opted out
    company: str
    badge: str  # badge name and level
    date: str  # already formatted for the reader
    earned_label: str  # "Earned on %(date)s" in the reader's language
    footer: str


CARD_BOXES: dict[str, Box] = {
    "program": (560, 60, 1140, 110),
    "person": (560, 130, 1140, 250),
    "company": (560, 255, 1140, 305),
    "badge": (560, 330, 1140, 450),
    "date": (560, 465, 1140, 510),
    "footer": (60, 560, 1140, 600),
}


def card_layout(text: CardText) -> dict[str, FittedText]:
    return {
        "program": fit_text(text.program, CARD_BOXES["program"], REGULAR, 34, 12, 1, align="left"),
        "person": fit_text(text.person, CARD_BOXES["person"], BOLD, 60, 14, 2, align="left"),
        "company": fit_text(text.company, CARD_BOXES["company"], REGULAR, 32, 12, 1, align="left"),
        "badge": fit_text(text.badge, CARD_BOXES["badge"], BOLD, 46, 14, 2, align="left"),
        "date": fit_text(text.earned_label, CARD_BOXES["date"], REGULAR, 30, 12, 1, align="left"),
        "footer": fit_text(text.footer, CARD_BOXES["footer"], REGULAR, 24, 10, 1, align="left"),
    }


def draw_share_card(text: CardText, name: str, icon: str, level: str) -> Image.Image:
    """1200x630 RGB, the size chat apps and social sites preview best."""
    palette = PALETTES.get(level, PALETTES[""])
    img = Image.new("RGB", CARD_SIZE, (250, 251, 252))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, 520, CARD_SIZE[1]), fill=palette.rim)
    draw.rectangle((0, 540, CARD_SIZE[0], CARD_SIZE[1]), fill=(235, 239, 243))
    medal = draw_medallion(name, icon, level, 512).resize((420, 420), Image.Resampling.LANCZOS)
    img.paste(medal, (50, 60), medal)
    layout = card_layout(text)
    ink, muted = (22, 30, 40), (90, 100, 112)
    for key, fitted in layout.items():
        path = BOLD if key in ("person", "badge") else REGULAR
        draw_fitted(draw, fitted, ink if key in ("person", "badge") else muted, path)
    return img


def share_card_png(data_dir: Path, text: CardText, name: str, icon: str, level: str) -> bytes:
    shown = json.dumps(
        [ART_VERSION, text.__dict__, name, icon, level], ensure_ascii=False, sort_keys=True
    )
    path = data_dir / "badge-cards" / f"{hashlib.sha256(shown.encode()).hexdigest()[:32]}.png"
    if path.is_file():
        return path.read_bytes()
    data = png_bytes(draw_share_card(text, name, icon, level))
    _write_atomically(path, data)
    return data
