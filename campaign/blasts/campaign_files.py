"""Campaign files (YAML), read and validated without a database: every error names its field.

`parse_campaign(data)` checks structure, types, local times, RRULEs, fallback chains and A/B
splits and returns a normalized spec; campaign/campaigns.py resolves it against the database.
Times in the file are in the campaign's timezone.

Every value has bounds, so nothing a file says can overflow a date, a database integer or the
memory of a later stage: dates between 2000 and 2099, deadlines up to a year, offsets up to ten
years, at most `MAX_STEPS` steps, texts and variables of bounded length, and the YAML itself
read by `campaign.core.yamlfiles.load_yaml` (size, nesting and alias expansion bounded).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from campaign.blasts.rules import DeploymentRules, check_recurrence, check_window
from campaign.blasts.schedules import parse_local_datetime, validate_rrule
from campaign.blasts.windows import normalize_weekend, parse_hhmm, zone
from campaign.core.errors import Invalid
from campaign.core.i18n import _
from campaign.core.yamlfiles import load_yaml

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
MAX_DEADLINE_HOURS = 24 * 365
MAX_OFFSET_DAYS = 3650
MAX_PER_HOUR = 1_000_000
MAX_PRICE = 1_000.0
MAX_STEPS = 200
MAX_TEXT = 200  # campaign and step names (the database column's length)
MAX_QUERY = 10_000
MAX_VARIABLES = 100
MAX_VARIABLE_TEXT = 1_000
MAX_STATIONS = 1_000
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")
CHANNELS = ("sms", "whatsapp", "radio")
MESSAGING = ("sms", "whatsapp")  # steps that send to contacts (campaign.blasts.channels)
ENCODINGS = ("exact", "smart", "fold")
CAMPAIGN_KEYS = {
    "slug",
    "name",
    "timezone",
    "send_window",
    "weekend",
    "variables",
    "pacing",
    "price_per_segment",
    "steps",
    "description",
}
PACING_KEYS = {"max_per_hour", "discreet_min_days"}
STEP_KEYS = {
    "id",
    "channel",
    "message",
    "segment",
    "query",
    "at",
    "rrule",
    "starts",
    "offset",
    "fallback",
    "encoding",
    "deadline",
    "deadline_hours",
    "variants",
    "variables",
    "stations",
    "name",
    "audio",
}


def read_campaign_document(path: str | Path) -> Any:
    """The YAML document of a campaign file, read within bounds; raises Invalid naming the file
    (and the line and column of a YAML problem)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise Invalid(
            str(path), _("cannot read the campaign file: %(strerror)s", strerror=exc.strerror)
        ) from exc
    except UnicodeDecodeError:
        raise Invalid(file.name, _("the campaign file is not UTF-8 text")) from None
    return load_yaml(text, source=file.name)


def load_campaign_file(path: str | Path, *, rules: DeploymentRules | None = None) -> dict[str, Any]:
    """Reads and validates a campaign file; returns the normalized spec (see `parse_campaign`)."""
    return parse_campaign(read_campaign_document(path), rules=rules)


def _require(data: Mapping[str, Any], key: str, field: str) -> Any:
    value = data.get(key)
    if value is None or value == "":
        raise Invalid(field, _("is required"))
    return value


def _unknown_keys(data: Mapping[str, Any], allowed: set[str], prefix: str) -> None:
    for key in data:
        if key not in allowed:
            raise Invalid(
                f"{prefix}{key}",
                _("unknown field (allowed: %(allowed)s)", allowed=", ".join(sorted(allowed)))
            )


def _positive_int(value: Any, field: str, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise Invalid(field, _("%(value)r is not a positive whole number", value=value))
    if maximum is not None and value > maximum:
        raise Invalid(field, _("%(value)d is more than %(max)d", value=value, max=maximum))
    return value


def _deadline_hours(value: Any, field: str) -> int:
    """`48`, `"48h"` or `"3d"` -> hours (at most a year)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _positive_int(value, field, MAX_DEADLINE_HOURS)
    match = re.fullmatch(r"\s*(\d{1,12})\s*([hd])\s*", str(value)[:100])
    if not match:
        raise Invalid(field, _("%(value)r is not a duration like 48h or 3d", value=str(value)[:40]))
    amount = int(match.group(1))
    hours = amount * 24 if match.group(2) == "d" else amount
    if hours > MAX_DEADLINE_HOURS:
        raise Invalid(
            field,
            _("%(value)s is more than a year (%(max)dh)", value=str(value).strip(), max=MAX_DEADLINE_HOURS),
        )
    return _positive_int(hours, field)


def _text(value: Any, field: str, maximum: int) -> str:
    text = str(value)
    if len(text) > maximum:
        raise Invalid(field, _("longer than %(max)d characters", max=maximum))
    return text


def _when(value: Any, tz: str, field: str) -> datetime:
    """A local date-time of the file as aware UTC, between 2000 and 2099."""
    try:
        moment = parse_local_datetime(value, tz, field)
    except (OverflowError, ValueError):
        moment = None
    if moment is None or not EARLIEST <= moment < LATEST:
        shown = str(value)[:40]
        raise Invalid(field, _("%(value)r is not a date between 2000 and 2099", value=shown))
    return moment


def _variables(value: Any, field: str) -> dict[str, Any]:
    variables = _mapping(value, field)
    if len(variables) > MAX_VARIABLES:
        raise Invalid(field, _("more than %(max)d variables", max=MAX_VARIABLES))
    for name, item in variables.items():
        _text(name, f"{field}.{name[:40]}", 64)
        if isinstance(item, list | dict):
            raise Invalid(f"{field}.{name}", _("a variable is a text or a number"))
        if isinstance(item, str):
            _text(item, f"{field}.{name}", MAX_VARIABLE_TEXT)
        if isinstance(item, int) and not isinstance(item, bool) and abs(item) > 10**15:
            raise Invalid(f"{field}.{name}", _("the number is too large"))
    return variables


def _mapping(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise Invalid(field, _("must be a mapping of names to values"))
    return {str(k): v for k, v in value.items()}


def parse_campaign(
    data: Any, *, default_timezone: str = "America/Guatemala", rules: DeploymentRules | None = None
) -> dict[str, Any]:
    """Validates a campaign document (already parsed YAML) and normalizes it. Pure.

    Raises Invalid naming the field: `slug`, `send_window.start`, `steps[1].rrule`, ...
    `rules` are the deployment's (campaign/blasts/rules.py; default: the shipped ones): the send
    window must stay out of the quiet hours, SMS steps may not recur more often than allowed.
    The result keeps schedule times as aware UTC datetimes.
    """
    rules = rules or DeploymentRules()
    if not isinstance(data, Mapping):
        raise Invalid("campaign", _("the file must be a mapping with slug, name and steps"))
    _unknown_keys(data, CAMPAIGN_KEYS, "")
    slug = str(_require(data, "slug", "slug"))
    if not SLUG_RE.match(slug):
        raise Invalid("slug", _("%(value)r: use lower-case letters, digits, - and _", value=slug))
    tz = str(data.get("timezone") or default_timezone)
    try:
        zone(tz)
    except Invalid as exc:
        raise Invalid("timezone", exc.reason) from None
    window = _mapping(data.get("send_window"), "send_window")
    start = parse_hhmm(window.get("start", rules.default_window[0]), "send_window.start")
    end = parse_hhmm(window.get("end", rules.default_window[1]), "send_window.end")
    if not start < end:
        raise Invalid("send_window", _("start must be before end (nothing is sent at night)"))
    weekend_raw = window.get("weekend", data.get("weekend"))
    weekend = normalize_weekend(_mapping(weekend_raw, "send_window.weekend"), "send_window.weekend")
    check_window(start, end, weekend, rules, field="send_window")
    pacing = _mapping(data.get("pacing"), "pacing")
    _unknown_keys(pacing, PACING_KEYS, "pacing.")
    max_per_hour = pacing.get("max_per_hour")
    if max_per_hour is not None:
        max_per_hour = _positive_int(max_per_hour, "pacing.max_per_hour", MAX_PER_HOUR)
    discreet_days = pacing.get("discreet_min_days")
    if discreet_days is not None and (
        isinstance(discreet_days, bool)
        or not isinstance(discreet_days, int)
        or not 0 <= discreet_days <= MAX_OFFSET_DAYS
    ):
        raise Invalid(
            "pacing.discreet_min_days", _("%(value)r is not a whole number of days >= 0", value=discreet_days)
        )
    price = data.get("price_per_segment")
    if price is not None and (
        isinstance(price, bool) or not isinstance(price, int | float) or not 0 <= price <= MAX_PRICE
    ):
        raise Invalid(
            "price_per_segment",
            _("%(value)r is not a number between 0 and %(max)g", value=price, max=MAX_PRICE),
        )
    steps_raw = data.get("steps")
    if not isinstance(steps_raw, list) or not steps_raw:
        raise Invalid("steps", _("give at least one step (a list)"))
    if len(steps_raw) > MAX_STEPS:
        raise Invalid("steps", _("more than %(max)d steps", max=MAX_STEPS))
    steps = [_parse_step(raw, i, tz, rules) for i, raw in enumerate(steps_raw)]
    seen: set[str] = set()
    for i, step in enumerate(steps):
        if step["key"] in seen:
            raise Invalid(f"steps[{i}].id", _("%(value)r is used by an earlier step", value=step["key"]))
        seen.add(step["key"])
    return {
        "slug": slug,
        "name": _text(_require(data, "name", "name"), "name", MAX_TEXT),
        "timezone": tz,
        "window_start": start,
        "window_end": end,
        "weekend_window": weekend,
        "variables": _variables(data.get("variables"), "variables"),
        "max_per_hour": max_per_hour,
        "discreet_min_days": discreet_days,
        "price_per_segment": float(price) if price is not None else None,
        "steps": steps,
    }


def _parse_step(raw: Any, index: int, tz: str, rules: DeploymentRules) -> dict[str, Any]:
    p = f"steps[{index}]."
    if not isinstance(raw, Mapping):
        raise Invalid(f"steps[{index}]", _("each step must be a mapping"))
    _unknown_keys(raw, STEP_KEYS, p)
    key = str(_require(raw, "id", p + "id"))
    if not SLUG_RE.match(key):
        raise Invalid(p + "id", _("%(value)r: use lower-case letters, digits, - and _", value=key))
    channel, channel_fallback = _parse_channel(raw.get("channel", "sms"), p + "channel")
    step: dict[str, Any] = {
        "key": key,
        "position": index,
        "channel": channel,
        "channel_fallback": channel_fallback,
        "audio": None,
        "message": _text(_require(raw, "message", p + "message"), p + "message", 80),
        "segment_slug": None,
        "query": None,
        "at": None,
        "rrule": None,
        "starts": None,
        "offset": None,
        "variables": _variables(raw.get("variables"), p + "variables"),
        "stations": [],
        "variants": [],
    }
    if raw.get("segment") and raw.get("query"):
        raise Invalid(p + "segment", _("give either segment or query, not both"))
    if raw.get("segment"):
        step["segment_slug"] = _text(raw["segment"], p + "segment", 80)
    elif raw.get("query"):
        step["query"] = _text(raw["query"], p + "query", MAX_QUERY)
    elif channel in MESSAGING:
        raise Invalid(p + "segment", _("an SMS or WhatsApp step needs a segment (or a query)"))
    kinds = [k for k in ("at", "rrule", "offset") if raw.get(k) not in (None, "")]
    if len(kinds) != 1:
        raise Invalid(p + "at", _("give exactly one schedule: at, rrule (+ starts) or offset"))
    if kinds == ["at"]:
        step["at"] = _when(raw["at"], tz, p + "at")
    elif kinds == ["rrule"]:
        step["rrule"] = validate_rrule(str(raw["rrule"]), p + "rrule")
        step["starts"] = _when(_require(raw, "starts", p + "starts"), tz, p + "starts")
        if channel in MESSAGING:
            local_start = step["starts"].astimezone(zone(tz)).replace(tzinfo=None)
            check_recurrence(step["rrule"], local_start, rules, field=p + "rrule")
    else:
        step["offset"] = _parse_offset(raw["offset"], p + "offset")
    if raw.get("starts") is not None and step["rrule"] is None:
        raise Invalid(p + "starts", _("starts goes with rrule"))
    step["fallback"] = _parse_fallback(raw.get("fallback", "none"), p + "fallback")
    encoding = raw.get("encoding")
    if encoding is not None and encoding not in ENCODINGS:
        raise Invalid(
            p + "encoding",
            _("%(value)r is not one of %(allowed)s", value=encoding, allowed=", ".join(ENCODINGS))
        )
    step["encoding"] = encoding
    deadline = raw.get("deadline", raw.get("deadline_hours"))
    step["deadline_hours"] = None if deadline is None else _deadline_hours(deadline, p + "deadline")
    step["variants"] = _parse_variants(raw.get("variants"), p + "variants")
    stations = raw.get("stations") or []
    if not isinstance(stations, list) or not all(isinstance(s, str) for s in stations):
        raise Invalid(p + "stations", _("give a list of station slugs (or [all])"))
    if len(stations) > MAX_STATIONS:
        raise Invalid(p + "stations", _("more than %(max)d stations", max=MAX_STATIONS))
    if channel in MESSAGING and stations:
        raise Invalid(p + "stations", _("stations go with channel: radio"))
    step["stations"] = stations or (["all"] if channel == "radio" else [])
    audio = raw.get("audio")
    if audio not in (None, ""):
        if channel != "whatsapp":
            raise Invalid(p + "audio", _("a recording (audio) goes with channel: whatsapp"))
        audio = str(audio)
        if not SLUG_RE.match(audio):
            raise Invalid(p + "audio", _("%(value)r is not a radio spot's slug", value=audio))
        step["audio"] = audio
    return step


def _parse_channel(value: Any, field: str) -> tuple[str, str | None]:
    """`sms`, `whatsapp`, `radio`, or the list `[whatsapp, sms]` (either order: WhatsApp where the
    contact opted in to it, SMS otherwise) -> (channel, fallback channel or None)."""
    if isinstance(value, list):
        names = [str(v) for v in value]
        if len(names) == 1:
            value = names[0]
        elif sorted(names) == ["sms", "whatsapp"]:
            return "whatsapp", "sms"
        else:
            raise Invalid(
                field,
                _("a list of channels must be [whatsapp, sms] (WhatsApp where possible, SMS otherwise)"),
            )
    channel = str(value)
    if channel not in CHANNELS:
        raise Invalid(
            field, _("%(value)r is not one of %(allowed)s", value=channel, allowed=", ".join(CHANNELS))
        )
    return channel, None


def _parse_offset(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise Invalid(field, _('give {field: enrolled_on, days: 3, time: "09:00"}'))
    name = str(_require(value, "field", field + ".field"))
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", name):
        raise Invalid(field + ".field", _("%(value)r is not a custom field name", value=name))
    days = value.get("days", 0)
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_OFFSET_DAYS:
        raise Invalid(
            field + ".days",
            _("%(value)r is not a whole number of days from 0 to %(max)d", value=days, max=MAX_OFFSET_DAYS),
        )
    at = parse_hhmm(value.get("time", "09:00"), field + ".time")
    return {"field": name, "days": days, "time": at.strftime("%H:%M")}


def _parse_fallback(value: Any, field: str) -> list[str]:
    if value in (None, "none", "contact"):
        return ["contact"]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise Invalid(field, _("use none, or a list such as [contact, es]"))
    if len(set(value)) != len(value):
        raise Invalid(field, _("a language appears twice in the chain"))
    from campaign.core.languages import default_registry

    registry = default_registry()
    for i, code in enumerate(value):
        if code != "contact" and code not in registry:
            raise Invalid(f"{field}[{i}]", _("unknown language code %(value)r", value=code))
    return list(value)


def _parse_variants(value: Any, field: str) -> list[dict[str, Any]]:
    if not value:
        return []
    if not isinstance(value, list):
        raise Invalid(field, _("give a list of {message: slug, split: percent}"))
    out: list[dict[str, Any]] = []
    total = 0
    for i, raw in enumerate(value):
        if not isinstance(raw, Mapping):
            raise Invalid(f"{field}[{i}]", _("give {message: slug, split: percent}"))
        split = raw.get("split")
        if isinstance(split, bool) or not isinstance(split, int) or not 0 < split < 100:
            raise Invalid(
                f"{field}[{i}].split", _("%(value)r is not a percentage between 1 and 99", value=split)
            )
        total += split
        slug = str(_require(raw, "message", f"{field}[{i}].message"))
        out.append({"key": chr(ord("B") + i), "message": slug, "split": split})
    if total >= 100:
        raise Invalid(
            field, _("splits add up to %(total)d%%: leave a share for the step's own message", total=total)
        )
    return out
