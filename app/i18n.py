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
        merged.add(Translations(buffer), merge=True)
    return merged


def gettext(lang: str, message: str, **variables: Any) -> str:
    text = catalog(lang).gettext(message)
    return text % variables if variables else text


def ngettext(lang: str, singular: str, plural: str, n: int, **variables: Any) -> str:
    text = catalog(lang).ngettext(singular, plural, n)
    return text % {"num": n, **variables}


def N_(message: str) -> str:
    """Marks a message for extraction where it is defined; translated where it is shown."""
    return message


@pass_context
def _template_gettext(context: Context, message: str) -> str:
    return catalog(context.get("lang", DEFAULT)).gettext(message)


@pass_context
def _template_ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return catalog(context.get("lang", DEFAULT)).ngettext(singular, plural, n)


def install(env: Environment) -> None:
    """Give ``env`` the ``{% trans %}`` tag and ``_()`` bound to each template's ``lang``."""
    env.add_extension("jinja2.ext.i18n")
    # Jinja's new-style wrappers call these through Context.call, which hands them the context.
    env.install_gettext_callables(  # type: ignore[attr-defined]
        _template_gettext, _template_ngettext, newstyle=True
    )
