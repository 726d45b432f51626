"""WhatsApp templates of the message library: Twilio Content SIDs, their variables, their category.

Outside the 24-hour window after a contact's last message, WhatsApp only lets a business send a
template Meta approved. Twilio names each one by a Content SID (`HX` + 32 hex digits) with numbered
placeholders ({{1}}, {{2}}): a translation maps those numbers to our template variables
({"1": "organizacion", "2": "contact.first_name"}). A message has one WhatsApp category
(marketing | utility | authentication), which sets the price of each template sent.

Pure: values in, values out (validation raises `Invalid` naming the field), no session, no clock.
`content_template` is what the send path asks: the SID and mapping of an approved translation.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from campaign.core.errors import Invalid
from campaign.core.i18n import N_, LazyString, _
from messages.models import Message, Translation, TranslationStatus

CONTENT_SID_RE = re.compile(r"^HX[0-9a-f]{32}$")
CATEGORIES = ("marketing", "utility", "authentication")
CATEGORY_WORDS: dict[str, LazyString] = {
    "marketing": N_("marketing"),
    "utility": N_("utility"),
    "authentication": N_("authentication"),
}
_VARIABLE_RE = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*|contact\.[A-Za-z_][A-Za-z0-9_]*)$")
MAX_PLACEHOLDERS = 20


def category_word(category: str | None) -> str:
    """A WhatsApp category in the current locale ("-" when none)."""
    if not category:
        return "-"
    word = CATEGORY_WORDS.get(category)
    return str(word) if word is not None else category


def check_content_sid(value: Any, field: str = "content_sid") -> str:
    """The SID stripped; raises Invalid(field) unless it is HX followed by 32 lower-case hex digits."""
    text = value.strip() if isinstance(value, str) else value
    if not isinstance(text, str) or not CONTENT_SID_RE.match(text):
        shown = repr(text)[:60] if text not in (None, "") else _("nothing")
        raise Invalid(field, _("%(value)s is not a Twilio Content SID (HX followed by 32 hexadecimal "
                               "digits, as in the Twilio console)", value=shown))
    return text


def check_category(value: Any, field: str = "whatsapp_category") -> str:
    """One of marketing, utility, authentication; raises Invalid(field) otherwise."""
    if value not in CATEGORIES:
        raise Invalid(field, _("%(value)s is not one of %(categories)s", value=repr(value)[:40],
                               categories=", ".join(CATEGORIES)))
    return str(value)


def check_variables(value: Any, declared: Collection[str], field: str = "variables") -> dict[str, str]:
    """Twilio's placeholders ("1", "2", ... without gaps) mapped to a declared message variable or a
    contact field (`contact.first_name`); returns the mapping with string keys. Raises Invalid(field)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise Invalid(field, _('expected a mapping of placeholder numbers to variables, such as '
                               '{"1": "organizacion"}'))
    mapping: dict[str, str] = {}
    for key, name in value.items():
        number = str(key).strip()
        if not number.isdigit() or number.startswith("0") or int(number) > MAX_PLACEHOLDERS:
            raise Invalid(f"{field}.{str(key)[:20]}", _("placeholders are numbered 1 to %(max)d",
                                                        max=MAX_PLACEHOLDERS))
        if not isinstance(name, str) or not _VARIABLE_RE.match(name.strip()):
            raise Invalid(f"{field}.{number}", _("%(value)s is not a variable name", value=repr(name)[:60]))
        name = name.strip()
        if not name.startswith("contact.") and name not in declared:
            raise Invalid(f"{field}.{number}", _(
                "%(name)s is not a variable of this message (%(declared)s) nor a contact field (contact.…)",
                name=repr(name), declared=", ".join(sorted(declared)) or "-"))
        mapping[number] = name
    expected = [str(n) for n in range(1, len(mapping) + 1)]
    if sorted(mapping, key=int) != expected:
        raise Invalid(field, _("placeholders must be numbered 1, 2, 3… without gaps (got %(got)s)",
                               got=", ".join(sorted(mapping, key=int))))
    return {k: mapping[k] for k in expected}


def parse_variables_text(text: str, declared: Collection[str], field: str = "variables") -> dict[str, str]:
    """`1=organizacion, 2=contact.first_name` (the web form and CLI) as a checked mapping."""
    pairs: dict[str, str] = {}
    for i, part in enumerate(p for p in re.split(r"[,\n]", text) if p.strip()):
        if "=" not in part:
            raise Invalid(field, _("write each placeholder as number=variable (item %(n)d: %(item)s)",
                                   n=i + 1, item=repr(part.strip())[:60]))
        key, name = part.split("=", 1)
        if key.strip() in pairs:
            raise Invalid(field, _("placeholder %(n)s given twice", n=key.strip()[:10]))
        pairs[key.strip()] = name.strip()
    return check_variables(pairs, declared, field)


def variables_text(mapping: Mapping[str, str] | None) -> str:
    """The mapping as the form writes it: `1=organizacion, 2=pdh`."""
    return ", ".join(f"{k}={v}" for k, v in sorted((mapping or {}).items(), key=lambda kv: int(kv[0])))


def content_template(item: Message | Translation, language: str) -> tuple[str, dict[str, str]] | None:
    """The approved WhatsApp template of a message (or one translation) in `language`:
    (content_sid, {"1": variable, ...}), or None when that language has no approved translation
    with a Content SID (the send path then may only send free text inside the 24-hour window, or
    fall back to SMS, or skip). Reads loaded attributes only."""
    if isinstance(item, Message):
        translation = next((t for t in item.translations if t.language == language), None)
    else:
        translation = item if item.language == language else None
    if translation is None or not translation.content_sid:
        return None
    if TranslationStatus(translation.status) != TranslationStatus.APPROVED:
        return None
    return translation.content_sid, dict(translation.content_variables or {})


def template_languages(message: Message) -> set[str]:
    """The languages in which `content_template(message, lang)` is not None."""
    return {t.language for t in message.translations if content_template(t, t.language) is not None}


def content_values(mapping: Mapping[str, str], context: Mapping[str, Any]) -> dict[str, str]:
    """Twilio's ContentVariables for one contact: each placeholder's variable read from the
    rendering context (`messages.rendering.build_context`); raises Invalid naming a missing one."""
    from messages.rendering import render

    return {number: render("{{ " + name + " }}", context) for number, name in mapping.items()}
