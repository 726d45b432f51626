"""A stored campaign written back as its campaign file (YAML): the inverse of `parse_campaign`.

Pure: `campaign_document(spec)` takes the normalized spec that `parse_campaign` returned (as
stored in `Campaign.spec`, datetimes as ISO text or aware values) and gives the document a person
would write, times local to the campaign's timezone; `parse_campaign(campaign_document(spec))`
gives `spec` back. `campaign_yaml` dumps it (keys in the file's usual order, Unicode kept).
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import yaml


def _local(value: Any, zone: ZoneInfo) -> str:
    """An aware UTC moment (or its ISO text) as the file's local `YYYY-MM-DD HH:MM[:SS]`."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    local = moment.astimezone(zone)
    return local.strftime("%Y-%m-%d %H:%M:%S" if local.second else "%Y-%m-%d %H:%M")


def _hhmm(value: Any) -> str:
    """A time (or its ISO text) as `HH:MM`."""
    moment = value if isinstance(value, time) else time.fromisoformat(str(value))
    return moment.strftime("%H:%M")


def _step_document(step: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    channel: Any = step["channel"]
    if step.get("channel_fallback"):
        channel = [step["channel"], step["channel_fallback"]]
    out: dict[str, Any] = {"id": step["key"], "channel": channel, "message": step["message"]}
    if step.get("segment_slug"):
        out["segment"] = step["segment_slug"]
    elif step.get("query"):
        out["query"] = step["query"]
    if step.get("at"):
        out["at"] = _local(step["at"], zone)
    elif step.get("rrule"):
        out["rrule"] = step["rrule"]
        out["starts"] = _local(step["starts"], zone)
    elif step.get("offset"):
        offset = step["offset"]
        out["offset"] = {"field": offset["field"], "days": offset["days"], "time": offset["time"]}
    fallback = list(step.get("fallback") or ["contact"])
    out["fallback"] = "none" if fallback == ["contact"] else fallback
    if step.get("encoding"):
        out["encoding"] = step["encoding"]
    if step.get("deadline_hours") is not None:
        out["deadline"] = f"{step['deadline_hours']}h"
    if step.get("variants"):
        out["variants"] = [{"message": v["message"], "split": v["split"]} for v in step["variants"]]
    if step.get("variables"):
        out["variables"] = dict(step["variables"])
    if step.get("audio"):
        out["audio"] = step["audio"]
    if step["channel"] == "radio":
        out["stations"] = list(step.get("stations") or ["all"])
    return out


def campaign_document(spec: dict[str, Any]) -> dict[str, Any]:
    """The campaign file (as a mapping) of a normalized spec. Pure."""
    zone = ZoneInfo(spec["timezone"])
    window: dict[str, Any] = {"start": _hhmm(spec["window_start"]), "end": _hhmm(spec["window_end"])}
    if spec.get("weekend_window"):
        window["weekend"] = {
            day: (list(hours) if hours else None) for day, hours in spec["weekend_window"].items()
        }
    out: dict[str, Any] = {
        "slug": spec["slug"],
        "name": spec["name"],
        "timezone": spec["timezone"],
        "send_window": window,
    }
    if spec.get("variables"):
        out["variables"] = dict(spec["variables"])
    pacing = {key: spec[key] for key in ("max_per_hour", "discreet_min_days") if spec.get(key) is not None}
    if pacing:
        out["pacing"] = pacing
    if spec.get("price_per_segment") is not None:
        out["price_per_segment"] = spec["price_per_segment"]
    out["steps"] = [_step_document(step, zone) for step in spec["steps"]]
    return out


def campaign_yaml(spec: dict[str, Any]) -> str:
    """The campaign file's text (YAML) of a normalized spec."""
    header = "# Campaign file: times are local to `timezone`. Load with: campaign create <this file>\n"
    body = yaml.safe_dump(campaign_document(spec), allow_unicode=True, sort_keys=False, width=100)
    return header + body
