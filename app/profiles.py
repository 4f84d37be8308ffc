"""A person's own settings: language, whether public boards show their (company's) name, and
changing their password."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from app.accounts import (
    Role,
    authenticate,
    change_password,
    check_new_password,
    start_session,
)
from app.i18n import N_, Refusal
from app.models import Partner, Rep, User

LANGUAGES = ("en", "id", "")  # "" = whatever the browser asks for (Accept-Language)


class ProfileError(Refusal):
    """A profile change that cannot be made as asked; the message says why."""


@dataclass(frozen=True)
class Preferences:
    language: str
    hide_me: bool | None  # None: not a rep, nothing to hide
    hide_company: bool | None  # None: not a partner admin


def preferences_of(session: Session, user: User) -> Preferences:
    rep = _rep_of(session, user)
    partner = _company_of(session, user)
    return Preferences(
        language=user.language if user.language in LANGUAGES else "",
        hide_me=rep.anonymous if rep is not None else None,
        hide_company=partner.anonymous if partner is not None else None,
    )


def save_preferences(session: Session, user_id: int, wanted: Preferences) -> bool:
    """Store the settings this person may change; True when a public board may now show a
    name differently (so the caller refreshes what pages and live boards hold)."""
    if wanted.language not in LANGUAGES:
        raise ProfileError(N_("Choose English, Bahasa Indonesia or the language of your browser."))
    user = session.get(User, user_id)
    assert user is not None
    user.language = wanted.language
    session.add(user)
    changed = False
    rep = _rep_of(session, user)
    if rep is not None and wanted.hide_me is not None and rep.anonymous != wanted.hide_me:
        rep.anonymous = wanted.hide_me
        session.add(rep)
        changed = True
    partner = _company_of(session, user)
    if (
        partner is not None
        and wanted.hide_company is not None
        and partner.anonymous != wanted.hide_company
    ):
        partner.anonymous = wanted.hide_company
        session.add(partner)
        changed = True
    return changed


def replace_password(
    session: Session, user_id: int, current: str, new: str, confirm: str, now: datetime
) -> str:
    """Check the current password, set the new one and end every session of this person (a
    stolen cookie dies with the old password); returns the token of a fresh session for the
    browser that asked, so it stays logged in."""
    user = session.get(User, user_id)
    assert user is not None
    if authenticate(session, user.email, current) is None:
        raise ProfileError(N_("That is not your current password. Type it again."))
    check_new_password(new, confirm)
    if new == current:
        raise ProfileError(N_("The new password is your current one. Choose a different one."))
    change_password(session, user, new, now)
    return start_session(session, user, now)


def _rep_of(session: Session, user: User) -> Rep | None:
    return session.get(Rep, user.rep_id) if user.rep_id is not None else None


def _company_of(session: Session, user: User) -> Partner | None:
    """The partner whose public name this person decides: its partner admin's."""
    if user.role != Role.PARTNER_ADMIN.value or user.partner_id is None:
        return None
    return session.get(Partner, user.partner_id)
