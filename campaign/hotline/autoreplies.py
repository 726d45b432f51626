"""Automatic replies to inbound messages: which text, in which language, encoded how, at what cost.

An auto-reply is the pack's message (respuesta-baja / -alta / -ayuda / -urgente) in the contact's
language when an approved translation exists, else Spanish, else a built-in Spanish text; rendered
with the deployment's hotline variables; then put through the language's SMS encoding policy
(`fold` for Spanish: "Línea" -> "Linea", so the reply stays one GSM-7 segment instead of two UCS-2
ones) and stored with its real encoding and segment count.

`compose` never raises: an auto-reply is best effort (a broken template must not undo the opt-out
or the case it answers), so any error falls back to the built-in text, and that to a fixed line.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from campaign.blasts.models import Outbound, OutboundStatus
from campaign.core.config import Settings
from messages.models import Message, Translation, TranslationStatus

log = logging.getLogger(__name__)

AUTO_REPLY_PROVIDER = "twiml"
AUTO_REPLY_PRIORITY = 10

# Kinds of auto-reply: the intents answered, plus the re-subscribe question.
OPT_OUT, OPT_IN, HELP, URGENT, RESUBSCRIBE = "opt_out", "opt_in", "help", "urgent", "resubscribe"

REPLY_SLUGS: dict[str, str] = {
    OPT_OUT: "respuesta-baja",
    OPT_IN: "respuesta-alta",
    HELP: "respuesta-ayuda",
    URGENT: "respuesta-urgente",
    RESUBSCRIBE: "pregunta-alta",
}

# Used when the library has no approved translation (e.g. the pack is not loaded) or it fails to
# render: an opt-out must be confirmed and a cry for help answered even then.
BUILTIN_REPLIES: dict[str, str] = {
    OPT_OUT: "Ya no recibirá mensajes de {{ organizacion }}. Para volver a recibirlos, responda ALTA.",
    OPT_IN: "Volverá a recibir mensajes de {{ organizacion }}. Para dejar de recibirlos, responda BAJA.",
    HELP: "{{ organizacion }}: Una persona le responderá. Línea de la mujer {{ hotline_mujer }}, "
    "emergencias {{ policia }}.",
    URGENT: "{{ organizacion }}: Recibimos su mensaje. Si está en peligro llame ya al {{ policia }} o al "
    "{{ hotline_mujer }}. Una persona le va a contactar pronto.",
    RESUBSCRIBE: "{{ organizacion }}: ¿Desea volver a recibir nuestros mensajes? Responda SI. Si no, no "
    "responda.",
}
# The last resort, when even the built-in template cannot render (no variables at all).
FIXED_REPLIES: dict[str, str] = {
    OPT_OUT: "Ya no recibira mas mensajes. Para volver, responda ALTA.",
    OPT_IN: "Volvera a recibir mensajes. Para dejar de recibirlos, responda BAJA.",
    HELP: "Una persona le respondera. Emergencias: 110. Linea de la mujer: 1572.",
    URGENT: "Si esta en peligro llame ya al 110 o al 1572. Una persona le va a contactar pronto.",
    RESUBSCRIBE: "Desea volver a recibir nuestros mensajes? Responda SI.",
}


@dataclass(frozen=True)
class AutoReply:
    """The text to answer with (as it will be sent), where it came from and what it costs."""

    kind: str
    text: str
    language: str
    message_id: int | None
    version: int | None
    encoding: str
    segments: int


def _encoded(kind: str, text: str, language: str, settings: Settings, message_id: int | None,
             version: int | None) -> AutoReply:
    from messages.encoding import apply_policy

    extra = json.dumps(settings.extra_languages or {}, sort_keys=True, default=str)
    info = apply_policy(text, _encoding_policy(language, extra))
    return AutoReply(kind, info.text, language, message_id, version, info.encoding, info.segments)


@lru_cache(maxsize=64)
def _encoding_policy(language: str, extra_languages: str) -> str:
    """The encoding policy of `language` given the settings' extra languages (as sorted JSON):
    building the registry each time cost more than the rest of an auto-reply."""
    from campaign.core.languages import build_registry

    registry = build_registry(json.loads(extra_languages))
    return registry.get(language).encoding_policy if language in registry else "smart"


_LIBRARY_QUERY = (
    select(Translation.body, Translation.language, Translation.version, Message.id, Message.slug)
    .join(Message, Message.id == Translation.message_id)
    .where(
        Message.slug.in_(sorted(set(REPLY_SLUGS.values()))),
        Translation.status == TranslationStatus.APPROVED,
    )
)
_TRANSACTION_CACHE = "autoreplies.transaction"  # session.info key: (transaction, library, replies)


def _transaction_cache(session: Session) -> tuple[dict[str, list[Any]] | None, dict[Any, AutoReply]]:
    """What this transaction has read and composed: the approved translations of every auto-reply
    by slug (None until first needed), and the replies composed, by kind, language and variables.
    A batch of webhooks answers many messages with the same few texts in one transaction; a new
    transaction reads the library again."""
    transaction = session.get_transaction()
    held = session.info.get(_TRANSACTION_CACHE)
    if held is None or held[0] is not transaction:
        held = session.info[_TRANSACTION_CACHE] = [transaction, None, {}]
    return held[1], held[2]


def _library_rows(session: Session, slug: str, wanted: list[str]) -> list[Any]:
    """The approved translations of `slug` in `wanted`, those of every auto-reply read in one query
    once per transaction."""
    library, _replies = _transaction_cache(session)
    if library is None:
        library = {}
        for row in session.execute(_LIBRARY_QUERY):
            library.setdefault(row.slug, []).append(row)
        session.info[_TRANSACTION_CACHE][1] = library
    return [row for row in library.get(slug, ()) if row.language in wanted]


def _from_library(session: Session, kind: str, language: str | None,
                  variables: dict[str, Any]) -> tuple[str, int, str, int] | None:
    from campaign.core.errors import Invalid
    from messages.rendering import render

    wanted = list(dict.fromkeys([language or "es", "es"]))
    rows = _library_rows(session, REPLY_SLUGS[kind], wanted)
    by_language = {row.language: row for row in rows}
    for code in wanted:
        row = by_language.get(code)
        if row is None:
            continue
        try:
            return render(row.body, variables), row.id, code, row.version
        except Invalid:
            continue  # a template needing a variable we lack: next language, then built-in
    return None


def compose(
    session: Session, *, kind: str, language: str | None, settings: Settings, extra: dict[str, Any]
) -> AutoReply:
    """The auto-reply of `kind` for a contact speaking `language`. Never raises (see the module
    docstring); reads translations only. Composed once per transaction for the same kind,
    language and variables (rendering is pure: the same library gives the same reply)."""
    variables = {**settings.hotline_defaults, **extra}
    _library, replies = _transaction_cache(session)
    key = (kind, language, json.dumps(variables, sort_keys=True, default=str))
    reply = replies.get(key)
    if reply is None:
        reply = replies[key] = _compose(session, kind, language, settings, variables)
    return reply


def _compose(
    session: Session, kind: str, language: str | None, settings: Settings, variables: dict[str, Any]
) -> AutoReply:
    from messages.rendering import render

    try:
        found = _from_library(session, kind, language, variables)
        if found is not None:
            text, message_id, code, version = found
            return _encoded(kind, text, code, settings, message_id, version)
    except Exception:  # noqa: BLE001 - best effort: the built-in text answers instead
        log.exception("auto-reply %s: the library's text failed; using the built-in text", kind)
    try:
        return _encoded(kind, render(BUILTIN_REPLIES[kind], variables), "es", settings, None, None)
    except Exception:  # noqa: BLE001 - even the built-in text failed (bad settings): a fixed line
        log.exception("auto-reply %s: the built-in text failed; using the fixed line", kind)
        return AutoReply(kind, FIXED_REPLIES[kind], "es", None, None, "GSM-7", 1)


_OUTBOUND = Outbound.__table__
_INSERT_OUTBOUND = insert(_OUTBOUND)  # executed with dicts of values: its columns' types apply


def store(
    session: Session, reply: AutoReply, *, contact_id: int, case_id: int | None, now: datetime,
    channel: str = "sms",
) -> None:
    """Stores the auto-reply as an Outbound row (provider "twiml", status sent: the webhook's
    answer carries it, on the channel the message came by), with its real encoding and segment
    count, so the thread and the budget show it. Flushes one INSERT."""
    store_many(session, [row(reply, contact_id=contact_id, case_id=case_id, now=now, channel=channel)])


def row(
    reply: AutoReply, *, contact_id: int, case_id: int | None, now: datetime, channel: str = "sms"
) -> dict[str, Any]:
    """The Outbound row `store` inserts for the auto-reply (for `store_many`)."""
    return dict(
        contact_id=contact_id, case_id=case_id, message_id=reply.message_id, language=reply.language,
        template_version=reply.version, body=reply.text, encoding=reply.encoding, segments=reply.segments,
        priority=AUTO_REPLY_PRIORITY, status=OutboundStatus.SENT, provider=AUTO_REPLY_PROVIDER,
        send_after=now, sent_at=now, status_at=now, created_at=now, attempts=0, channel=channel,
    )


def store_many(session: Session, rows: list[dict[str, Any]]) -> None:
    """Stores the auto-replies of a batch of inbound messages (rows from `row`), in one INSERT."""
    if rows:
        session.execute(_INSERT_OUTBOUND, rows)
