"""The campaign form of the web app, as the campaign file it stands for. Pure.

Every input is named by the path of its value in the YAML file (`send_window.start`,
`steps[1].rrule`, `pacing.max_per_hour`), so the field an error of `parse_campaign` names is the
input it is shown next to (`field_of`). `form_to_document` turns the submitted form into the very
mapping the YAML loader would give `campaign create FILE` (numbers as numbers, empty inputs left
out); `document_to_form` is its inverse for editing (from `campaign_export.campaign_document`).
Small YAML snippets (variables, variants) are read with the same bounded loader as files.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import yaml

from campaign.core.errors import Invalid
from campaign.core.i18n import N_, LazyString, _
from campaign.core.yamlfiles import load_yaml

MAX_FORM_STEPS = 50
# The channel select: a step's `channel` as the form writes it. "whatsapp,sms" is the file's list
# `[whatsapp, sms]`: WhatsApp where the contact opted in to it, SMS otherwise.
CHANNEL_CHOICES: dict[str, LazyString] = {
    "sms": N_("SMS"),
    "whatsapp": N_("WhatsApp"),
    "whatsapp,sms": N_("WhatsApp, else SMS"),
    "radio": N_("radio"),
}
SCHEDULE_KINDS = ("at", "rrule", "offset")
WEEKEND_DAYS = ("sat", "sun")
CLOSED_WORDS = ("closed", "cerrado", "none", "null")
_INT = re.compile(r"[+-]?\d{1,18}")
_FLOAT = re.compile(r"[+-]?\d{1,18}\.\d{1,12}")
_HOURS = re.compile(r"\s*(\d{1,2}:\d{2})\s*[-–]\s*(\d{1,2}:\d{2})\s*")
STEP_INPUTS = (
    "id",
    "channel",
    "message",
    "segment",
    "query",
    "schedule",
    "at",
    "rrule",
    "starts",
    "offset.field",
    "offset.days",
    "offset.time",
    "fallback",
    "encoding",
    "deadline",
    "variants",
    "variables",
    "stations",
)
CAMPAIGN_INPUTS = (
    "slug",
    "name",
    "timezone",
    "send_window.start",
    "send_window.end",
    "send_window.weekend.sat",
    "send_window.weekend.sun",
    "variables",
    "pacing.max_per_hour",
    "pacing.discreet_min_days",
    "price_per_segment",
)


def _number(text: str) -> Any:
    """A number typed in a box, as YAML would read it (text that is not a number stays text, so
    the validation names it exactly as it names it in a file)."""
    value = text.strip()
    if _INT.fullmatch(value):
        return int(value)
    if _FLOAT.fullmatch(value):
        return float(value)
    return value


def _mapping_snippet(text: str, field: str) -> dict[str, Any] | None:
    """`name: value` lines (a YAML mapping) -> dict; empty -> None; raises Invalid(field)."""
    if not text.strip():
        return None
    data = load_yaml(text, source=field)
    if not isinstance(data, Mapping):
        raise Invalid(field, _("write one `name: value` per line"))
    return dict(data)


def _list_of_words(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _channel(value: str) -> str | list[str]:
    """The select's value as the file writes it: "whatsapp,sms" -> [whatsapp, sms]; empty -> sms."""
    parts = _list_of_words(value)
    if len(parts) > 1:
        return parts
    return parts[0] if parts else "sms"


def channel_value(channel: Any) -> str:
    """A file's `channel` (text or list) as the select's value ("whatsapp,sms")."""
    if isinstance(channel, list | tuple):
        return ",".join(str(c) for c in channel)
    return str(channel or "sms")


def channel_choices(current: str) -> list[tuple[str, str]]:
    """The select's options in the reader's words (plus an unknown current value, so a bad choice
    is shown next to its error rather than silently replaced)."""
    choices = [(value, str(words)) for value, words in CHANNEL_CHOICES.items()]
    if current and current not in CHANNEL_CHOICES:
        choices.append((current, current))
    return choices


def step_count(form: Mapping[str, str]) -> int:
    """How many steps the form holds (the hidden `step_count`, bounded)."""
    raw = str(form.get("step_count", "1")).strip()
    count = int(raw) if raw.isdigit() and len(raw) < 4 else 1
    return max(1, min(count, MAX_FORM_STEPS))


def _step(form: Mapping[str, str], i: int) -> dict[str, Any] | None:
    p = f"steps[{i}]."

    def get(name: str) -> str:
        return str(form.get(p + name, "")).strip()

    if not any(get(name) for name in STEP_INPUTS if name not in ("channel", "schedule", "encoding")):
        return None  # an untouched blank step: as if the file had none
    step: dict[str, Any] = {"id": get("id"), "channel": _channel(get("channel")), "message": get("message")}
    if get("segment"):
        step["segment"] = get("segment")
    if get("query"):
        step["query"] = get("query")
    kind = get("schedule") or next((k for k in SCHEDULE_KINDS if get(k)), "at")
    if kind == "rrule":
        step["rrule"] = get("rrule")
        if get("starts"):
            step["starts"] = get("starts")
    elif kind == "offset":
        offset: dict[str, Any] = {"field": get("offset.field")}
        if get("offset.days"):
            offset["days"] = _number(get("offset.days"))
        if get("offset.time"):
            offset["time"] = get("offset.time")
        step["offset"] = offset
    else:
        step["at"] = get("at")
    fallback = _list_of_words(get("fallback"))
    step["fallback"] = fallback if fallback and fallback != ["none"] else "none"
    if get("encoding"):
        step["encoding"] = get("encoding")
    if get("deadline"):
        step["deadline"] = _number(get("deadline"))
    variants = _mapping_snippet(get("variants"), p + "variants")
    if variants:
        step["variants"] = [{"message": slug, "split": split} for slug, split in variants.items()]
    variables = _mapping_snippet(get("variables"), p + "variables")
    if variables:
        step["variables"] = variables
    if get("stations"):
        step["stations"] = _list_of_words(get("stations"))
    return step


def _weekend(form: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for day in WEEKEND_DAYS:
        text = str(form.get(f"send_window.weekend.{day}", "")).strip()
        if not text:
            continue
        hours = _HOURS.fullmatch(text)
        if text.lower() in CLOSED_WORDS:
            out[day] = None
        elif hours:
            out[day] = [hours.group(1), hours.group(2)]
        else:
            out[day] = text  # refused by the validation, naming send_window.weekend.<day>
    return out


def form_to_document(form: Mapping[str, str]) -> dict[str, Any]:
    """The campaign file (mapping) a submitted form stands for. Raises Invalid naming the input
    when a YAML snippet (variables, variants) does not read."""

    def get(name: str) -> str:
        return str(form.get(name, "")).strip()

    doc: dict[str, Any] = {"slug": get("slug"), "name": get("name")}
    if get("timezone"):
        doc["timezone"] = get("timezone")
    window: dict[str, Any] = {}
    for key in ("start", "end"):
        if get(f"send_window.{key}"):
            window[key] = get(f"send_window.{key}")
    weekend = _weekend(form)
    if weekend:
        window["weekend"] = weekend
    if window:
        doc["send_window"] = window
    variables = _mapping_snippet(get("variables"), "variables")
    if variables:
        doc["variables"] = variables
    pacing = {
        key: _number(get(f"pacing.{key}"))
        for key in ("max_per_hour", "discreet_min_days")
        if get(f"pacing.{key}")
    }
    if pacing:
        doc["pacing"] = pacing
    if get("price_per_segment"):
        doc["price_per_segment"] = _number(get("price_per_segment"))
    steps = [_step(form, i) for i in range(step_count(form))]
    doc["steps"] = [s for s in steps if s is not None]
    return doc


def _snippet(mapping: Mapping[str, Any] | None) -> str:
    if not mapping:
        return ""
    return yaml.safe_dump(dict(mapping), allow_unicode=True, sort_keys=False, default_flow_style=False)


def document_to_form(doc: Mapping[str, Any]) -> dict[str, str]:
    """The form's values for a campaign file (from `campaign_export.campaign_document`)."""
    window = doc.get("send_window") or {}
    form: dict[str, str] = {
        "slug": str(doc.get("slug", "")),
        "name": str(doc.get("name", "")),
        "timezone": str(doc.get("timezone", "")),
        "send_window.start": str(window.get("start", "")),
        "send_window.end": str(window.get("end", "")),
        "variables": _snippet(doc.get("variables")),
        "pacing.max_per_hour": str((doc.get("pacing") or {}).get("max_per_hour", "") or ""),
        "pacing.discreet_min_days": str((doc.get("pacing") or {}).get("discreet_min_days", "") or ""),
        "price_per_segment": "" if doc.get("price_per_segment") is None else str(doc["price_per_segment"]),
    }
    for day, hours in (window.get("weekend") or {}).items():
        form[f"send_window.weekend.{day}"] = "closed" if not hours else f"{hours[0]}-{hours[1]}"
    steps = doc.get("steps") or []
    form["step_count"] = str(max(1, len(steps)))
    for i, step in enumerate(steps):
        p = f"steps[{i}]."
        offset = step.get("offset") or {}
        fallback = step.get("fallback", "none")
        values = {
            "id": step.get("id", ""),
            "channel": channel_value(step.get("channel", "sms")),
            "message": step.get("message", ""),
            "segment": step.get("segment", ""),
            "query": step.get("query", ""),
            "schedule": next((k for k in SCHEDULE_KINDS if step.get(k)), "at"),
            "at": step.get("at", ""),
            "rrule": step.get("rrule", ""),
            "starts": step.get("starts", ""),
            "offset.field": offset.get("field", ""),
            "offset.days": offset.get("days", ""),
            "offset.time": offset.get("time", ""),
            "fallback": ", ".join(fallback) if isinstance(fallback, list) else str(fallback),
            "encoding": step.get("encoding", ""),
            "deadline": step.get("deadline", ""),
            "variants": _snippet({v["message"]: v["split"] for v in step.get("variants") or []}),
            "variables": _snippet(step.get("variables")),
            "stations": ", ".join(step.get("stations") or []),
        }
        form.update({p + k: str(v) for k, v in values.items()})
    return form


def input_names(count: int) -> list[str]:
    """Every input of a form with `count` steps."""
    return [*CAMPAIGN_INPUTS, *(f"steps[{i}].{name}" for i in range(count) for name in STEP_INPUTS)]


def field_of(error_field: str, count: int) -> str:
    """The input an error naming `error_field` belongs next to: the longest input name that is
    `error_field` or a path above it (`steps[0].variants[1].split` -> `steps[0].variants`);
    `send_window` -> its start; anything else (`campaign`, `steps`) -> "" (the top of the form)."""
    names = input_names(count)
    if error_field == "send_window":
        return "send_window.start"
    if error_field.startswith("send_window.weekend."):
        day = error_field.split(".")[2]
        return f"send_window.weekend.{day}" if day in WEEKEND_DAYS else "send_window.start"
    best = ""
    for name in names:
        if error_field == name or error_field.startswith((name + ".", name + "[")):
            if len(name) > len(best):
                best = name
    if not best and re.fullmatch(r"steps\[\d+\]", error_field):
        return error_field + ".id"
    return best


class FormErrors(Invalid):
    """Every error found in a submitted campaign form (the first as `parse_campaign` reports it,
    then those of the other steps), each naming its field."""

    def __init__(self, errors: list[Invalid]) -> None:
        super().__init__(errors[0].field, errors[0].reason)
        self.errors = errors


def all_errors(doc: Mapping[str, Any], first: Invalid, parse: Callable[[Any], Any]) -> list[Invalid]:
    """`first` (what `parse` raised for `doc`) and the errors of the other steps: each step is
    checked alone by the same `parse`, its fields renamed back to its place (`steps[0].at` of the
    third step is `steps[2].at`). Steps are checked only when the campaign's own fields pass."""
    found = [first]
    seen = {(first.field, first.reason)}
    steps = doc.get("steps")
    if not isinstance(steps, list) or len(steps) < 2 or first.field == "steps":
        return found
    try:
        parse({**doc, "steps": []})
    except Invalid as exc:
        if exc.field != "steps":
            return found  # the campaign's own fields are at fault: one error is what can be said
    for i, step in enumerate(steps):
        try:
            parse({**doc, "steps": [step]})
        except Invalid as exc:
            if not exc.field.startswith("steps[0]"):
                continue
            error = Invalid(f"steps[{i}]" + exc.field[len("steps[0]") :], exc.reason)
            if (error.field, error.reason) not in seen:
                seen.add((error.field, error.reason))
                found.append(error)
    return found
