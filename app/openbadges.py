"""Open Badges 2.0: every earned badge is a hosted Assertion, verifiable by anyone.

Three JSON-LD documents at stable public URLs under ``PODIUM_BASE_URL`` (the spec's default
verification rule is that the Assertion and BadgeClass live on the issuer Profile's origin):

- ``/badges/issuers/<program>``: the issuer Profile (id, type, name, url, email required);
- ``/badges/classes/<program>/<badge>/<level>``: the BadgeClass (name, description, image,
  criteria, issuer);
- ``/badges/assertions/<uid>``: the Assertion (recipient as a salted SHA-256 of the email,
  badge, verification "hosted", issuedOn). A revoked one answers 410 Gone with
  ``{"revoked": true}``, as the spec's hosted revocation says.

The downloadable PNG is baked: an uncompressed ``iTXt`` chunk with keyword ``openbadges`` whose
text is the Assertion's JSON (OB 2.0 baking; its ``id`` is the hosted URL, which a verifier
fetches as the source of truth).
"""

from __future__ import annotations

import io
import json
from typing import Any
from urllib.parse import quote

from PIL import Image, PngImagePlugin

from app.badges import Earned, recipient_hash
from app.models import BadgeAward, Program
from game.badges import BadgeDefinition

CONTEXT = "https://w3id.org/openbadges/v2"
KEYWORD = "openbadges"
LD_JSON = "application/ld+json"


def level_slug(level: str) -> str:
    """The level in a URL: "standard" for a badge without levels."""
    return level or "standard"


def level_of_slug(slug: str) -> str:
    return "" if slug == "standard" else slug


class Urls:
    """Every public badge URL, built from the configured base URL (never from the request,
    whose Host header a client chooses)."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/")

    def issuer(self, program: Program) -> str:
        return f"{self.base}/badges/issuers/{quote(program.code)}"

    def badge_class(self, program: Program, badge_code: str, level: str) -> str:
        return f"{self.base}/badges/classes/{quote(program.code)}/{quote(badge_code)}/{level_slug(level)}"

    def image(self, program: Program, badge_code: str, level: str, size: int = 512) -> str:
        return f"{self.base}/badges/art/{quote(program.code)}/{quote(badge_code)}/{level_slug(level)}/{size}.png"

    def criteria(self, program: Program, badge_code: str) -> str:
        return f"{self.base}/badges#{quote(badge_code)}"

    def assertion(self, uid: str) -> str:
        return f"{self.base}/badges/assertions/{quote(uid)}"

    def earned(self, uid: str) -> str:
        return f"{self.base}/badges/earned/{quote(uid)}"

    def card(self, uid: str) -> str:
        return f"{self.base}/badges/earned/{quote(uid)}/card.png"

    def showcase(self, code: str) -> str:
        return f"{self.base}/badges/showcase/{quote(code)}"


def issuer_profile(urls: Urls, program: Program, contact_email: str) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "type": "Issuer",
        "id": urls.issuer(program),
        "name": program.name,
        "url": f"{urls.base}/",
        "email": contact_email,
        "description": program.objective[:500] or program.name,
    }


def badge_class(
    urls: Urls, program: Program, d: BadgeDefinition, level: str, criteria_narrative: str
) -> dict[str, Any]:
    name = d.name if not level else f"{d.name} ({level.title()})"
    return {
        "@context": CONTEXT,
        "type": "BadgeClass",
        "id": urls.badge_class(program, d.code, level),
        "name": name,
        "description": d.description or name,
        "image": urls.image(program, d.code, level),
        "criteria": {"id": urls.criteria(program, d.code), "narrative": criteria_narrative},
        "issuer": urls.issuer(program),
        "tags": [d.criterion.kind.value, *([level] if level else [])],
    }


def recipient_of(urls: Urls, award: BadgeAward, participant_code: str) -> dict[str, Any]:
    if award.recipient_type == "email" and award.recipient_hash:
        identity = award.recipient_hash
    else:  # a partner without an admin's email: its public showcase page identifies it
        identity = recipient_hash(urls.showcase(participant_code), award.salt)
        return {"type": "url", "hashed": True, "salt": award.salt, "identity": identity}
    return {"type": "email", "hashed": True, "salt": award.salt, "identity": identity}


def assertion(urls: Urls, e: Earned) -> dict[str, Any]:
    """The hosted Assertion of an award (call ``revoked_assertion`` for a revoked one)."""
    a = e.award
    return {
        "@context": CONTEXT,
        "type": "Assertion",
        "id": urls.assertion(a.uid),
        "recipient": recipient_of(urls, a, e.participant_code),
        "badge": urls.badge_class(e.program, e.row.code, a.level),
        "verification": {"type": "hosted"},
        "issuedOn": a.earned_at.isoformat(timespec="seconds"),
        "image": urls.image(e.program, e.row.code, a.level),
        "evidence": {"id": urls.earned(a.uid), "narrative": _evidence(e)},
    }


def _evidence(e: Earned) -> str:
    a = e.award
    if a.place is not None:
        return f"Finished #{a.place} in period {a.earned_in} of {e.program.name}."
    if a.period_key.startswith("challenge-"):
        return f"Won a challenge of {e.program.name}."
    return f"Reached in period {a.earned_in} of {e.program.name}."


def revoked_assertion(urls: Urls, award: BadgeAward) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "type": "Assertion",
        "id": urls.assertion(award.uid),
        "revoked": True,
        "revocationReason": award.revocation_reason or "Revoked by the issuer",
    }


def verify_recipient(recipient: dict[str, Any], email: str) -> bool:
    """Whether an Assertion's recipient is this email (what a verifier checks)."""
    identity = str(recipient.get("identity", ""))
    if not recipient.get("hashed"):
        return identity.strip().lower() == email.strip().lower()
    algorithm, _, _digest = identity.partition("$")
    if algorithm != "sha256":
        return False
    return (
        identity.lower()
        == recipient_hash(email.strip().lower(), str(recipient.get("salt", ""))).lower()
    )


def bake(png: bytes, assertion_json: dict[str, Any]) -> bytes:
    """The PNG with the Assertion in one uncompressed ``iTXt`` chunk keyed ``openbadges``
    (any earlier one dropped: the spec allows only one)."""
    with Image.open(io.BytesIO(png)) as img:
        img.load()
        info = PngImagePlugin.PngInfo()
        for key, value in img.info.items():
            if isinstance(key, str) and isinstance(value, str) and key != KEYWORD:
                info.add_text(key, value)
        info.add_itxt(KEYWORD, json.dumps(assertion_json, ensure_ascii=False), zip=False)
        out = io.BytesIO()
        img.save(out, format="PNG", pnginfo=info)
        return out.getvalue()


def unbake(png: bytes) -> str | None:
    """The text of the ``openbadges`` chunk of a baked PNG, or None."""
    with Image.open(io.BytesIO(png)) as img:
        img.load()
        text = getattr(img, "text", {}).get(KEYWORD)
        return str(text) if text is not None else None
