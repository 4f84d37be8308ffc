"""Printable PDF certificates (fpdf2): for an earned badge, or for a place in a closed period.

A4 landscape, the bundled DejaVu Sans embedded (so Indonesian names and any Latin accents
print), the medallion as an image, and the public verification URL at the bottom. Long names
are shrunk to fit their line rather than cut.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from fpdf import FPDF

from app.artwork import BOLD, REGULAR


@dataclass(frozen=True)
class CertificateText:
    heading: str  # "Certificate of achievement"
    presented: str  # "presented to"
    person: str
    company: str
    achievement: str  # the badge (and level), or the place ("2nd place · points · 2026-10")
    detail: str  # criteria, or the board
    program: str
    date_line: str  # "Earned on 22 Nov 2026"
    verify_line: str  # "Verify at https://…"


def _fit(pdf: FPDF, text: str, width: float, size: float, minimum: float = 6) -> None:
    """Set the largest font size up to ``size`` at which ``text`` fits ``width`` on one line."""
    pdf.set_font_size(size)
    while size > minimum and pdf.get_string_width(text) > width:
        size -= 0.5
        pdf.set_font_size(size)


def certificate_pdf(text: CertificateText, medallion_png: bytes | None) -> bytes:
    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_title(f"{text.heading}: {text.person}")
    pdf.set_creator("Podium")
    pdf.add_font("DejaVu", "", str(REGULAR))
    pdf.add_font("DejaVu", "B", str(BOLD))
    pdf.add_page()
    width = pdf.w - 60
    pdf.set_draw_color(11, 110, 79)
    pdf.set_line_width(1.2)
    pdf.rect(10, 10, pdf.w - 20, pdf.h - 20)
    pdf.set_line_width(0.4)
    pdf.rect(14, 14, pdf.w - 28, pdf.h - 28)
    if medallion_png:
        pdf.image(io.BytesIO(medallion_png), x=(pdf.w - 46) / 2, y=22, w=46, h=46)
    y = 74.0
    lines = [
        (text.heading, "B", 26.0, (11, 110, 79)),
        (text.presented, "", 13.0, (90, 100, 112)),
        (text.person, "B", 30.0, (22, 30, 40)),
        (text.company, "", 14.0, (90, 100, 112)),
        (text.achievement, "B", 20.0, (22, 30, 40)),
        (text.detail, "", 11.0, (90, 100, 112)),
        (text.program, "", 13.0, (22, 30, 40)),
        (text.date_line, "", 12.0, (90, 100, 112)),
    ]
    for content, style, size, colour in lines:
        if not content:
            continue
        pdf.set_font("DejaVu", style, size)
        pdf.set_text_color(*colour)
        _fit(pdf, content, width, size)
        height = pdf.font_size * 1.6
        pdf.set_xy(30, y)
        pdf.cell(width, height, content, align="C")
        y += height + 1.5
    pdf.set_font("DejaVu", "", 9)
    pdf.set_text_color(90, 100, 112)
    _fit(pdf, text.verify_line, width, 9, 6)
    pdf.set_xy(30, pdf.h - 26)
    pdf.cell(width, 6, text.verify_line, align="C")
    return bytes(pdf.output())
