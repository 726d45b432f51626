"""Keyword-only factories for test data. All names and numbers are synthetic.

Phone numbers use Guatemala's +502 with 8-digit mobile-looking numbers generated here; they are
made up for tests and belong to nobody we know of.
"""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy.orm import Session

from audiences.fields import declare_fields, value_type
from audiences.models import Contact, ContactStatus, FieldType

_counter = itertools.count(1)


def synthetic_phone(n: int | None = None) -> str:
    """A synthetic Guatemalan mobile number in E.164 (+502 3xxx xxxx range)."""
    n = next(_counter) if n is None else n
    return f"+5023{n:07d}"[:12]


def make_contact(
    session: Session,
    *,
    phone: str | None = None,
    name: str = "Contacto Sintético",
    language: str | None = "es",
    department: str | None = "GT-12",
    municipality_code: str | None = None,
    birth_year: int | None = 2005,
    sex: str | None = "F",
    household: str | None = None,
    status: ContactStatus = ContactStatus.ACTIVE,
    country: str | None = "GT",
    timezone: str | None = None,
    custom: dict[str, Any] | None = None,
    consent: bool = True,
    **extra: Any,
) -> Contact:
    """Adds and flushes one contact. Its custom fields become known (as an import of those columns
    would make them), typed from the values given. It has consent to receive blasts unless
    `consent=False` (as a contact created by an inbound message from an unknown number has none)."""
    if consent:
        from datetime import UTC, datetime

        extra.setdefault("consent_source", "synthetic test data")
        extra.setdefault("consent_at", datetime(2027, 1, 1, tzinfo=UTC))
    contact = Contact(
        phone=phone or synthetic_phone(),
        name=name,
        language=language,
        department=department,
        municipality_code=municipality_code,
        birth_year=birth_year,
        sex=sex,
        household=household,
        status=status,
        country=country,
        timezone=timezone,
        custom=custom or {},
        **extra,
    )
    session.add(contact)
    session.flush()
    if custom:
        declare_custom_fields(session, {key: value_type(value) for key, value in custom.items()})
    return contact


def declare_custom_fields(session: Session, types: dict[str, Any]) -> None:
    """Makes custom fields known with these types (key -> number | date | text), as an import would."""
    from datetime import UTC, datetime

    from audiences.fields import known_fields

    known = known_fields(session)
    declare_fields(
        session,
        {key: FieldType(kind) for key, kind in types.items() if key not in known},
        now=datetime(2027, 1, 1, tzinfo=UTC),
        source="test factory",
    )


# --- radio (spots, stations, radio steps) ------------------------------------------------------

RADIO_SCRIPT_ES: list[dict[str, Any]] = [
    {"cue": "MÚSICA", "text": "Entra cortina suave, baja a fondo", "seconds": 2},
    {"speaker": "LOCUTORA", "text": "¿Te ofrecieron trabajo en la ciudad con buen sueldo y sin papeles?"},
    {"speaker": "VOZ 1", "text": "Antes de aceptar, pregunta, averigua y cuéntale a tu familia."},
    {"speaker": "LOCUTORA", "text": "Si tienes dudas, llama gratis al {{ hotline_mujer }}."},
    {"cue": "PAUSA", "seconds": 1},
    {"speaker": "LOCUTORA", "text": "Repetimos: {{ hotline_mujer }}. Te escuchamos. {{ organizacion }}."},
]

# Synthetic Mam-like test copy exercising the orthography (ä ë ï ö ü, ẍ, glottal apostrophes);
# it is test data, not a translation anyone vouches for.
RADIO_SCRIPT_MAM: list[dict[str, Any]] = [
    {"cue": "MÚSICA", "text": "Cortina", "seconds": 2},
    {"speaker": "NARRADORA", "text": "Ẍjal tx'otx' ä ë ï ö ü ch'aqaab' q'ij, {{ hotline_mujer }}."},
    {"speaker": "NARRADORA", "text": "Tku'x ẍnaq'tzb'il, b'ix tq'anil: {{ hotline_mujer }}."},
]


def make_radio_spot(
    session: Session,
    *,
    slug: str | None = None,
    slot_seconds: int | None = 30,
    scripts: dict[str, list[dict[str, Any]]] | None = None,
    status: str = "approved",
    pronunciation: str | None = None,
) -> Any:
    """Adds a radio message with one translation per language in `scripts` (flushed)."""
    from messages.models import Message, Translation
    from messages.radio import spoken_text

    scripts = scripts if scripts is not None else {"es": RADIO_SCRIPT_ES}
    message = Message(
        slug=slug or f"spot-test-{next(_counter)}",
        topic="trafficking",
        channels=["radio"],
        title="Spot de prueba",
        variables=["hotline_mujer", "organizacion"],
        slot_seconds=slot_seconds,
    )
    session.add(message)
    for language, script in scripts.items():
        message.translations.append(
            Translation(
                language=language,
                script=script,
                body=spoken_text(script),
                status=status,
                pronunciation=pronunciation,
            )
        )
    session.flush()
    return message


def make_station(
    session: Session,
    *,
    slug: str | None = None,
    name: str | None = None,
    languages: list[str] | None = None,
    frequency: str | None = "98.5 FM",
    department: str | None = "GT-12",
) -> Any:
    """Adds one radio station (flushed)."""
    from campaign.radio.models import Station

    n = next(_counter)
    station = Station(
        slug=slug or f"radio-prueba-{n}",
        name=name or f"Radio Prueba {n}",
        frequency=frequency,
        department=department,
        languages=languages if languages is not None else ["es"],
        contact_person="Productora Sintética",
    )
    session.add(station)
    session.flush()
    return station


def make_radio_step(
    session: Session,
    *,
    message: Any,
    rrule: str = "FREQ=DAILY;BYHOUR=6,12,18;BYMINUTE=30;COUNT=6",
    starts: str = "2027-01-11",
    stations: list[str] | None = None,
    campaign: Any = None,
    campaign_slug: str | None = None,
    timezone: str = "America/Guatemala",
    key: str | None = None,
    variables: dict[str, Any] | None = None,
) -> Any:
    """Adds a radio step (and its campaign unless given); `starts` is a local date (flushed)."""
    from datetime import date, datetime, time
    from zoneinfo import ZoneInfo

    from campaign.blasts.models import Campaign, Step

    if campaign is None:
        campaign = Campaign(
            slug=campaign_slug or f"radio-campaign-{next(_counter)}",
            name="Campaña de radio de prueba",
            timezone=timezone,
            variables={"organizacion": "Red Sintética"},
        )
        session.add(campaign)
        session.flush()
    zone = ZoneInfo(campaign.timezone)
    local_midnight = datetime.combine(date.fromisoformat(starts), time(0, 0), tzinfo=zone)
    step = Step(
        campaign_id=campaign.id,
        key=key or f"radio-{next(_counter)}",
        channel="radio",
        message_id=message.id,
        rrule=rrule,
        starts=local_midnight,
        stations=stations if stations is not None else ["all"],
        variables=variables or {},
    )
    session.add(step)
    session.flush()
    session.refresh(campaign)
    return step


# --- SMS messages and campaigns (campaign planning tests) ----------------------------------------


def make_sms_message(
    session: Session,
    *,
    slug: str | None = None,
    bodies: dict[str, str] | None = None,
    statuses: dict[str, str] | None = None,
    topic: str = "trafficking",
    variables: list[str] | None = None,
) -> Any:
    """Adds an SMS message with one translation per language of `bodies` (approved unless
    `statuses` says otherwise), flushed. Bodies are Jinja2 templates."""
    from messages.models import Message, Translation

    bodies = bodies if bodies is not None else {
        "es": "Oferta de trabajo falsa? Llama gratis al {{ hotline_mujer }}. Responde BAJA para salir."
    }
    message = Message(
        slug=slug or f"sms-test-{next(_counter)}",
        topic=topic,
        channels=["sms"],
        title="Mensaje de prueba",
        variables=variables if variables is not None else ["hotline_mujer"],
    )
    session.add(message)
    for language, body in bodies.items():
        message.translations.append(
            Translation(language=language, body=body, status=(statuses or {}).get(language, "approved"))
        )
    session.flush()
    return message


def make_sms_campaign(
    session: Session,
    *,
    message: Any,
    slug: str | None = None,
    query: str = 'department = "GT-12"',
    at: str = "2027-01-11 10:00",
    now: Any = None,
    **spec: Any,
) -> Any:
    """Saves a one-step SMS campaign through the campaign-file path (campaign.campaigns), flushed.

    Extra keyword arguments go into the campaign document (pacing, send_window, ...); `step`
    (a dict) is merged into the step."""
    from datetime import UTC, datetime

    from campaign.blasts.campaign_files import parse_campaign
    from campaign.blasts.campaigns import save_campaign

    step = {"id": "paso-1", "channel": "sms", "message": message.slug, "query": query, "at": at}
    step.update(spec.pop("step", {}))
    document = {"slug": slug or f"campana-{next(_counter)}", "name": "Campaña de prueba", "steps": [step]}
    document.update(spec)
    campaign, _ = save_campaign(
        session, parse_campaign(document), now=now or datetime(2027, 1, 1, tzinfo=UTC)
    )
    return campaign


# --- outbound rows (dispatch, delivery and crash tests) ------------------------------------------


def make_blast(
    session: Session,
    *,
    status: str = "running",
    window: tuple[str, str] = ("00:00", "23:59"),
    timezone: str = "America/Guatemala",
    weekend_window: dict[str, Any] | None = None,
) -> Any:
    """Adds a campaign (status as given) with one SMS step and one planned occurrence; returns the
    occurrence (flushed). The default window is the whole day, for tests that are not about windows."""
    from datetime import UTC, datetime, time

    from campaign.blasts.models import Campaign, Occurrence, OccurrenceStatus, Step

    n = next(_counter)
    message = make_sms_message(session)
    start, end = (time(*map(int, w.split(":"))) for w in window)
    campaign = Campaign(
        slug=f"blast-{n}", name="Campaña sintética", status=status, timezone=timezone,
        window_start=start, window_end=end, weekend_window=weekend_window or {},
    )
    step = Step(campaign=campaign, key="paso", channel="sms", message_id=message.id)
    at = datetime(2027, 1, 11, 16, 0, tzinfo=UTC)
    occurrence = Occurrence(step=step, scheduled_at=at, fires_at=at, status=OccurrenceStatus.PLANNED)
    session.add_all([campaign, step, occurrence])
    session.flush()
    return occurrence


def make_outbound(
    session: Session,
    *,
    contact: Contact | None = None,
    occurrence: Any = None,
    body: str = "Mensaje sintético: ofertas de trabajo falsas. Llama al 1572.",
    status: str = "queued",
    send_after: Any = None,
    priority: int | None = None,
    **extra: Any,
) -> Any:
    """Adds one outbound row, flushed: a blast row when `occurrence` is given, else a hotline reply
    (no occurrence, priority 10). `send_after` defaults to 2027-01-11 16:00 UTC (10:00 in Guatemala)."""
    from datetime import UTC, datetime

    from campaign.blasts.models import Outbound

    contact = contact or make_contact(session)
    row = Outbound(
        contact_id=contact.id,
        occurrence_id=occurrence.id if occurrence is not None else None,
        step_id=occurrence.step_id if occurrence is not None else None,
        campaign_id=occurrence.step.campaign_id if occurrence is not None else None,
        body=body,
        language=contact.language,
        encoding="GSM-7",
        segments=1,
        status=status,
        priority=priority if priority is not None else (0 if occurrence is not None else 10),
        send_after=send_after or datetime(2027, 1, 11, 16, 0, tzinfo=UTC),
        **extra,
    )
    session.add(row)
    session.flush()
    return row


def approve_translation(session: Session, *, slug: str, language: str, body: str) -> Any:
    """Adds an approved translation of message `slug` (the message is created, topic "system",
    when the library lacks it), flushed. For the auto-replies (respuesta-ayuda, ...)."""
    from sqlalchemy import select

    from messages.models import Message, Translation, TranslationStatus

    message = session.scalar(select(Message).where(Message.slug == slug))
    if message is None:
        message = Message(slug=slug, topic="system", channels=["sms"])
        session.add(message)
        session.flush()
    translation = Translation(message_id=message.id, language=language, body=body,
                              status=TranslationStatus.APPROVED)
    session.add(translation)
    session.flush()
    return translation


def plan_blast_rows(session: Session, n: int) -> list[str]:
    """A running campaign with `n` queued rows due 2027-01-11 16:00 UTC, one per new contact;
    committed. Returns the contacts' (synthetic) phone numbers."""
    occurrence = make_blast(session)
    phones = []
    for _ in range(n):
        contact = make_contact(session)
        phones.append(contact.phone)
        make_outbound(session, contact=contact, occurrence=occurrence)
    session.commit()
    return phones
