"""Invoice photos attached to claims: checked, re-encoded and stored under ``data/claims``.

An uploaded file is never stored or served as it came. It is decoded by Pillow (only a few
raster formats are allowed), its size is checked from the header before any pixel is decoded
(a small file can claim billions of pixels), and it is re-encoded to WebP: this drops EXIF
(GPS position, device), any trailing payload (polyglot files) and any format a browser might
sniff as HTML or script.
"""

from __future__ import annotations

import io
import os
import re
import secrets
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PHOTO_BYTES = 5 * 1024 * 1024
# A 50 MP phone photo is 50 million pixels; far below Pillow's own bomb limit (~89 MP), which a
# deployment could also have switched off (MAX_IMAGE_PIXELS = None): we never rely on it.
MAX_PHOTO_PIXELS = 64_000_000
MAX_STORED_SIDE = 2400  # enough to read an invoice, a fraction of the original's bytes
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
_NAME = re.compile(r"[A-Za-z0-9_-]{24}\.webp")

TOO_BIG = "The photo is larger than 5 MB. Take it again at a lower resolution or crop it."
NOT_AN_IMAGE = "The photo must be an image (JPEG, PNG, WebP or GIF)."
TOO_MANY_PIXELS = (
    "The photo has too many pixels to open safely (at most 64 megapixels). Take it again."
)


class PhotoError(ValueError):
    """An upload that cannot be used as an invoice photo; the message tells the rep why."""


def _check_pixels(size: tuple[int, int]) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise PhotoError(NOT_AN_IMAGE)
    if width * height > MAX_PHOTO_PIXELS:
        raise PhotoError(TOO_MANY_PIXELS)


def reencode_photo(data: bytes) -> bytes:
    """The upload as a clean WebP, or PhotoError. Opening reads only the header; pixels are
    decoded after the size check, so a decompression bomb costs nothing."""
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoError(TOO_BIG)
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as probe:
            _check_pixels(probe.size)
            probe.verify()  # structure and checksums, without decoding into memory
        # verify() leaves the image unusable: open it again to decode.
        with Image.open(io.BytesIO(data), formats=FORMATS) as img:
            _check_pixels(img.size)
            img.load()
            # Apply the EXIF rotation now: the metadata that carried it is dropped below.
            upright = ImageOps.exif_transpose(img)
            has_alpha = "A" in upright.getbands() or "transparency" in upright.info
            clean = upright.convert("RGBA" if has_alpha else "RGB")
            clean.thumbnail((MAX_STORED_SIDE, MAX_STORED_SIDE))
            out = io.BytesIO()
            clean.save(out, format="WEBP", quality=80, method=4)
            return out.getvalue()
    except PhotoError:
        raise
    except Image.DecompressionBombError as exc:
        raise PhotoError(TOO_MANY_PIXELS) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        # Pillow reports broken or disguised files with any of these.
        raise PhotoError(NOT_AN_IMAGE) from exc


def save_photo(directory: Path, webp: bytes) -> str:
    """Store a re-encoded photo under a random name (never the uploader's) and return it."""
    directory.mkdir(parents=True, exist_ok=True)
    name = secrets.token_urlsafe(18) + ".webp"  # 24 characters, 144 random bits
    tmp = directory / f".{name}.tmp"
    tmp.write_bytes(webp)
    os.replace(tmp, directory / name)  # readers never see a half-written file
    return name


def photo_file(directory: Path, name: str) -> Path | None:
    """The stored file for ``name``, only if the name is one save_photo could have made."""
    if not _NAME.fullmatch(name):
        return None
    path = directory / name
    return path if path.is_file() else None


def delete_photo(directory: Path, name: str) -> None:
    path = photo_file(directory, name)
    if path is not None:
        path.unlink(missing_ok=True)
