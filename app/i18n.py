"""Translations: English (the message ids) and Bahasa Indonesia, chosen per request.

Catalogs are the ``.po`` files under ``app/locales/<lang>/`` — one per area of the product, so
features can be translated side by side — merged and compiled in memory at first use (no build
step; ``pybabel extract -F babel.cfg`` lists what needs translating). Templates call ``_()``,
``gettext`` and ``ngettext`` (Jinja's i18n extension, new style: autoescaped, ``%(name)s``
placeholders); the language comes from the template's ``lang`` variable, which every page sets.
"""

from __future__ import annotations

import functools
import gettext as stdlib_gettext
import io
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import Environment, pass_context
from jinja2.runtime import Context

from app.formatting import SUPPORTED

LOCALES_DIR = Path(__file__).parent / "locales"
DEFAULT = "en"


@functools.cache
def catalog(lang: str) -> stdlib_gettext.NullTranslations:
    """The merged translations of ``lang`` (English is the message ids themselves)."""
    if lang == DEFAULT or lang not in SUPPORTED:
        return stdlib_gettext.NullTranslations()
    merged = Translations()
    for path in sorted((LOCALES_DIR / lang).glob("*.po")):
        with path.open("rb") as f:
            po = read_po(f, locale=lang)
        buffer = io.BytesIO()
        write_mo(buffer, po, use_fuzzy=False)
        buffer.seek(0)
        part = Translations(buffer)
        merged.add(part, merge=True)
        # merge() copies messages only: without the language's own plural rule, ngettext
        # would pick English's second form, which Indonesian (one form) does not have.
        merged.plural = part.plural
    return merged


def gettext(lang: str, message: str, **variables: Any) -> str:
    """``message`` in ``lang`` with ``%(name)s`` values filled in. Always formatted, as Jinja's
    new-style ``_()`` does, so a literal percent sign is written ``%%`` in every message id."""
    return catalog(lang).gettext(message) % variables


def ngettext(lang: str, singular: str, plural: str, n: int, **variables: Any) -> str:
    text = catalog(lang).ngettext(singular, plural, n)
    return text % {"num": n, **variables}


def N_(message: str) -> str:
    """Marks a message for extraction where it is defined; translated where it is shown."""
    return message


# What a public page shows instead of the name of someone who opted out.
ANONYMOUS = N_("Anonymous")


class Refusal(Exception):
    """An error a person reads: the English message id with its values, translated when shown.

    Services raise ``SomeError(N_("This claim was already %(status)s."), status=...)``; pages
    show ``err.text(lang)``, the API and logs ``str(err)`` (English).
    """

    def __init__(self, message: str, **values: Any) -> None:
        super().__init__(message % values)
        self.message = message
        self.values = values

    def text(self, lang: str) -> str:
        return gettext(lang, self.message, **self.values)


@pass_context
def _template_gettext(context: Context, message: str) -> str:
    return catalog(context.get("lang", DEFAULT)).gettext(message)


@pass_context
def _template_ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return catalog(context.get("lang", DEFAULT)).ngettext(singular, plural, n)


@pass_context
def _shown(context: Context, name: str) -> str:
    """A display name as shown: the stored "Anonymous" of an opted-out participant is translated."""
    return _template_gettext(context, ANONYMOUS) if name == ANONYMOUS else name


def install(env: Environment) -> None:
    """Give ``env`` the ``{% trans %}`` tag and ``_()`` bound to each template's ``lang``, and the
    ``shown`` filter for display names."""
    env.add_extension("jinja2.ext.i18n")
    env.filters["shown"] = _shown
    # Jinja's new-style wrappers call these through Context.call, which hands them the context.
    env.install_gettext_callables(  # type: ignore[attr-defined]
        _template_gettext, _template_ngettext, newstyle=True
    )


def extract_message_ids(root: Path | None = None) -> dict[str, list[str]]:
    """Every message id the code and templates use, with where each is used (for the
    translation tests and for translators; not called while serving).

    Python passes the language first (``gettext(lang, "…")``), templates do not, so the two are
    extracted with their own keyword specs."""
    from babel.messages.extract import extract_from_dir

    root = root or Path(__file__).parent.parent
    found: dict[str, list[str]] = {}

    def add(results: Any, base: str) -> None:
        for filename, lineno, message, _comments, _context in results:
            # A plural message is one entry, keyed by its singular id.
            msgid = message[0] if isinstance(message, tuple) else message
            if msgid:
                found.setdefault(msgid, []).append(f"{base}/{filename}:{lineno}")

    add(
        extract_from_dir(
            str(root / "app"),
            [("**.py", "python")],
            keywords={"N_": None, "gettext": (2,), "ngettext": (2, 3)},
        ),
        "app",
    )
    add(
        extract_from_dir(
            str(root / "templates"),
            [("**.html", "jinja2.ext:babel_extract")],
            options_map={"**.html": {"extensions": "jinja2.ext.i18n"}},
            keywords={"_": None, "gettext": None, "ngettext": (1, 2)},
        ),
        "templates",
    )
    return found
