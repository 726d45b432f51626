"""Channels of a step and of one message: which one each contact gets, WhatsApp's 24 h window, addresses.

Pure except `whatsapp_window_open` and `whatsapp_opted_in` (one query each, over a batch of contacts).

- A step's `channel` is `sms`, `whatsapp`, `radio`, or the list `[whatsapp, sms]` (either order,
  same meaning): WhatsApp where the contact opted in to WhatsApp and does not prefer SMS, SMS
  otherwise (and SMS after a WhatsApp failure that means "not on WhatsApp" or "outside the window").
- WhatsApp never goes to a contact without a WhatsApp opt-in (`Contact.whatsapp_consent_at`, set by
  a ConsentEvent with channel "whatsapp"). The SMS consent (`Contact.consent_at`) is still needed
  for any blast: WhatsApp consent is consent to a channel, on top of consent to the campaign.
- Opt-outs: one STOP on any channel stops both channels (safety first: the person may not know or
  care which app carried our message; a message they asked to stop must not reach them another
  way). An opt-in by WhatsApp (ALTA) gives WhatsApp consent; one by SMS does not.
- Inside 24 h of the contact's last WhatsApp message to us, free text and media may go; outside it
  only an approved template (Twilio Content SID + variables) may.
- Messages: a message written for SMS (`messages.channels` has "sms") may go as WhatsApp free text
  (same text, no segment limit); a message whose channels name "whatsapp" may too. A radio-only
  message may not.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

SMS = "sms"
WHATSAPP = "whatsapp"
RADIO = "radio"
CHANNELS = (SMS, WHATSAPP, RADIO)
MESSAGING_CHANNELS = (SMS, WHATSAPP)  # steps that plan Outbound rows
PREFERRED_CHANNELS = (SMS, WHATSAPP)
WHATSAPP_WINDOW = timedelta(hours=24)
WHATSAPP_PREFIX = "whatsapp:"
# Skip reasons of WhatsApp rows (Outbound.skip_reason).
NO_WHATSAPP_CONSENT = "no_whatsapp_consent"
TEMPLATE_MISSING = "whatsapp_template_missing"
NOT_ON_WHATSAPP = "not_on_whatsapp"


def is_messaging(channel: str) -> bool:
    """The step sends messages to contacts (SMS or WhatsApp), as opposed to a radio spot."""
    return channel in MESSAGING_CHANNELS


def message_fits(message_channels: Iterable[str] | None, channel: str) -> bool:
    """A message may be sent on `channel`: SMS-written messages go as WhatsApp free text too."""
    written = list(message_channels or [SMS])
    if channel == WHATSAPP:
        return WHATSAPP in written or SMS in written
    return channel in written


# --- addresses -------------------------------------------------------------------------------


def is_whatsapp_address(address: str | None) -> bool:
    return bool(address) and str(address).startswith(WHATSAPP_PREFIX)


def whatsapp_address(phone: str) -> str:
    """`+50255501234` -> `whatsapp:+50255501234` (an address already prefixed is kept)."""
    return phone if is_whatsapp_address(phone) else WHATSAPP_PREFIX + phone


def phone_of(address: str) -> str:
    """`whatsapp:+50255501234` -> `+50255501234`; a plain number is returned as it is."""
    return address[len(WHATSAPP_PREFIX):] if is_whatsapp_address(address) else address


def channel_of_address(address: str | None) -> str:
    return WHATSAPP if is_whatsapp_address(address) else SMS


def address_for(channel: str, phone: str) -> str:
    """The provider's `To` for a phone on a channel."""
    return whatsapp_address(phone) if channel == WHATSAPP else phone_of(phone)


# --- choosing ---------------------------------------------------------------------------------


def step_channels(channel: str, channel_fallback: str | None = None) -> tuple[str, ...]:
    """The channels a step may use, first choice first: ("whatsapp", "sms") for `[whatsapp, sms]`."""
    if channel_fallback and channel_fallback != channel:
        return (channel, channel_fallback)
    return (channel,)


def channel_for(
    step_channels: tuple[str, ...] | list[str],
    *,
    opted_in_whatsapp: bool,
    preferred: str | None = None,
) -> str | None:
    """The channel one contact gets for a step, or None when none may be used (WhatsApp-only step,
    no WhatsApp opt-in: skipped `no_whatsapp_consent`).

    WhatsApp only with the contact's WhatsApp opt-in; on a `[whatsapp, sms]` step a contact who
    prefers SMS gets SMS, everyone else with the opt-in WhatsApp.
    """
    allowed = tuple(step_channels)
    if allowed == (SMS,):
        return SMS
    if WHATSAPP in allowed and opted_in_whatsapp and (SMS not in allowed or preferred != SMS):
        return WHATSAPP
    if SMS in allowed:
        return SMS
    return None


def choose_channels(
    step_channels: tuple[str, ...] | list[str],
    contacts: Iterable[tuple[int, bool, str | None]],
) -> dict[int, str | None]:
    """`channel_for` over (contact id, opted in to WhatsApp, preferred channel) tuples."""
    return {
        contact_id: channel_for(step_channels, opted_in_whatsapp=opted, preferred=preferred)
        for contact_id, opted, preferred in contacts
    }


def whatsapp_window_open(session: Session, contact_ids: Iterable[int], now: datetime) -> set[int]:
    """The contacts (of `contact_ids`) whose last WhatsApp message to us arrived within
    `WHATSAPP_WINDOW` before `now` (aware UTC): free text and media may go to them."""
    from campaign.hotline.models import Inbound

    ids = sorted(set(contact_ids))
    if not ids:
        return set()
    since = now - WHATSAPP_WINDOW
    open_ids: set[int] = set()
    for start in range(0, len(ids), 1000):
        chunk = ids[start:start + 1000]
        rows = session.execute(
            select(Inbound.contact_id)
            .where(
                Inbound.contact_id.in_(chunk),
                Inbound.channel == WHATSAPP,
                Inbound.received_at > since,
                Inbound.received_at <= now,
            )
            .group_by(Inbound.contact_id)
        )
        open_ids.update(row[0] for row in rows)
    return open_ids


def last_whatsapp_inbound(session: Session, contact_id: int) -> datetime | None:
    """When the contact last wrote to us on WhatsApp (None: never)."""
    from campaign.hotline.models import Inbound

    return session.scalar(
        select(func.max(Inbound.received_at)).where(
            Inbound.contact_id == contact_id, Inbound.channel == WHATSAPP
        )
    )


def whatsapp_opted_in(session: Session, contact_ids: Iterable[int]) -> dict[int, tuple[bool, str | None]]:
    """Per contact id: (opted in to WhatsApp, preferred channel)."""
    from audiences.models import Contact

    ids = sorted(set(contact_ids))
    out: dict[int, tuple[bool, str | None]] = {}
    for start in range(0, len(ids), 1000):
        chunk = ids[start:start + 1000]
        rows = session.execute(
            select(Contact.id, Contact.whatsapp_consent_at, Contact.preferred_channel).where(
                Contact.id.in_(chunk)
            )
        )
        out.update({row[0]: (row[1] is not None, row[2]) for row in rows})
    return out


def media_url(settings: Any, recording_id: int, *, now: datetime) -> str:
    """The public, signed URL of a recording's voice note that Twilio fetches for a WhatsApp
    message sent at `now`, under CAMPAIGN_PUBLIC_URL, expiring `campaign.core.media_urls.MEDIA_URL_TTL`
    after `now` (GET /media/... refuses it afterwards)."""
    from campaign.core.media_urls import MEDIA_URL_TTL, signed_media_url

    expires_at = now + MEDIA_URL_TTL
    return signed_media_url(settings.public_url, recording_id, expires_at=expires_at, settings=settings)


def existing_recordings(session: Session, recording_ids: Iterable[int | None]) -> set[int]:
    """Which of these recordings still exist (a producer may remove one after planning)."""
    from campaign.radio.models import Recording

    ids = sorted({i for i in recording_ids if i is not None})
    if not ids:
        return set()
    return set(session.scalars(select(Recording.id).where(Recording.id.in_(ids))))


def step_recordings(session: Session, spot_slug: str | None) -> dict[str, int]:
    """Language -> recording id of the radio spot a WhatsApp step sends as a voice note (empty when
    the step names none, or the spot has no recording). A language without a recording gets the
    text alone: the same approved message, never a voice note in another language."""
    if not spot_slug:
        return {}
    from campaign.radio.models import Recording
    from messages.models import Message

    rows = session.execute(
        select(Recording.language, Recording.id)
        .join(Message, Message.id == Recording.message_id)
        .where(Message.slug == spot_slug)
    )
    return {language: recording_id for language, recording_id in rows}


def content_template(message: Any, language: str) -> tuple[str, dict[str, str]] | None:
    """The approved WhatsApp template (Twilio Content SID, variables by position) of a message in
    a language, or None: `messages.whatsapp.content_template` (an approved translation with a
    Content SID; its variables map "1", "2", ... to template variables)."""
    from messages.whatsapp import content_template as library_template

    return library_template(message, language)
