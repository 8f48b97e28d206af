"""The one look of Kashi's PDF documents (invoices, statements): CJK font, paragraph styles, colours.

Chinese tenant names and descriptions need a CJK font, and it must travel with Kashi: the pip
dependency `paperang-p2-fonts-cjk` ships WenQuanYi Micro Hei (wqy-microhei.ttc, TrueType outlines;
upstream licence Apache-2.0 or GPLv3 with the font exception), so a machine with only what
`pip install` brought renders Chinese. reportlab embeds it subset (only the glyphs used), so the PDF
reads the same in every viewer. The system fonts in CJK_FONTS are a fallback should the package be
missing; reportlab's STSong-Light (not embedded: the viewer must supply it) is the last resort.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import SimpleDocTemplate, TableStyle

CJK_FONTS = (
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
)
"""(path, index in a collection) of embeddable CJK TrueType fonts, in order of preference."""
CID_FONT = "STSong-Light"
EMBEDDED_FONT = "KashiCJK"
HEAD = colors.HexColor("#1f3a5f")
"""The dark blue of table heads (the xlsx headers use it too)."""
MUTED = colors.HexColor("#555555")
RULE = colors.HexColor("#cccccc")
STRIPE = colors.HexColor("#f5f7fa")


def packaged_font() -> Path | None:
    """The CJK TrueType collection shipped by the `paperang-p2-fonts-cjk` dependency, if installed."""
    try:
        path = Path(str(resources.files("paperang_p2_fonts_cjk") / "fonts" / "wqy-microhei.ttc"))
    except ModuleNotFoundError:
        return None
    return path if path.is_file() else None


def font() -> str:
    """The registered name of the CJK font to draw with (see the module docstring)."""
    registered = pdfmetrics.getRegisteredFontNames()
    if EMBEDDED_FONT in registered:
        return EMBEDDED_FONT
    packaged = packaged_font()
    if packaged is not None:
        pdfmetrics.registerFont(TTFont(EMBEDDED_FONT, str(packaged), subfontIndex=0))
        return EMBEDDED_FONT
    for path, index in CJK_FONTS:
        if Path(path).is_file():
            pdfmetrics.registerFont(TTFont(EMBEDDED_FONT, path, subfontIndex=index))
            return EMBEDDED_FONT
    if CID_FONT not in registered:
        pdfmetrics.registerFont(UnicodeCIDFont(CID_FONT))
    return CID_FONT


def styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=font(), fontSize=8.5, leading=11)
    return {
        "base": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=9.5, textColor=colors.HexColor("#444444")),
        "title": ParagraphStyle("title", parent=base, fontSize=18, leading=22),
        "right": ParagraphStyle("right", parent=base, alignment=TA_RIGHT),
        "head": ParagraphStyle("head", parent=base, fontSize=8, textColor=colors.white),
        "warn": ParagraphStyle("warn", parent=base, fontSize=7.5, leading=9.5, textColor=colors.HexColor("#b00020")),
    }


def page(out, *, title: str, author: str) -> SimpleDocTemplate:
    """An A4 document with the documents' 15 mm margins."""
    return SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=title,
        author=author,
    )


FACTS = TableStyle(
    [("VALIGN", (0, 0), (-1, -1), "TOP"), ("TEXTCOLOR", (0, 0), (0, -1), MUTED), ("TEXTCOLOR", (2, 0), (2, -1), MUTED)]
)
"""The two-column facts block under a title (issuer, tenant, period …)."""
LINES = TableStyle(
    [
        ("BACKGROUND", (0, 0), (-1, 0), HEAD),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, RULE),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, STRIPE]),
    ]
)
"""A table of lines with a dark header row and striped rows."""


def local_date(instant: str, tz: str) -> str:
    """An RFC 3339 instant as the local date in `tz`: "2026-09-30"."""
    return datetime.fromisoformat(instant.replace("Z", "+00:00")).astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d")


def local_time(instant: str, tz: str) -> str:
    """An RFC 3339 instant as local wall time in `tz`: "2026-09-30 23:59"."""
    return datetime.fromisoformat(instant.replace("Z", "+00:00")).astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def money(amount: str | Decimal) -> str:
    """An amount with thousands separators and two places: "1,440,000.00" (negative: "-1,440.00")."""
    return f"{Decimal(amount):,.2f}"


def number(value: str | Decimal) -> str:
    """A quantity or unit price with thousands separators, its own places kept ("1,000.5", "12.50")."""
    amount = Decimal(value)
    whole, _, places = format(abs(amount), "f").partition(".")
    grouped = ("-" if amount < 0 else "") + f"{int(whole):,}"
    return f"{grouped}.{places}" if places else grouped


def escape(value: str) -> str:
    """Text safe inside a reportlab Paragraph (its mini-markup)."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
