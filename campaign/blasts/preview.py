"""Reach and cost preview of a campaign, computed by the planning code itself (nothing inserted).

Per step: recipients, language mix, contacts skipped and why, segments per message, total
segments, estimated cost, first send times, the characters forcing UCS-2, and how many scheduled
times are already past (they fire once, at launch). It walks `planning.plan_rows`, so its figures
are what planning would insert for the step's next firing.

Per channel (`channels`): recipients and cost of SMS (segments x price per segment) and of
WhatsApp (each message at its template category's price, `Settings.whatsapp_price`; free text
inside the contact's 24 h window at the session price). For a WhatsApp step, `whatsapp` says how
many go as free text inside the window, how many need a template, how many fall back to SMS and
why (no WhatsApp opt-in, prefers SMS, no template in their language), and which languages lack a
template for contacts outside the window (`missing_template_languages`: the launch check reads it).
The window is judged at `now`, as planning judges it when the step fires.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaign.blasts.campaigns import get_campaign
from campaign.blasts.channels import (
    SMS,
    TEMPLATE_MISSING,
    WHATSAPP,
    is_messaging,
    whatsapp_opted_in,
    whatsapp_window_open,
)
from campaign.blasts.lifecycle import step_schedule
from campaign.blasts.models import Occurrence, OutboundStatus, Step
from campaign.blasts.planning import load_step_plan, plan_rows
from campaign.blasts.reach import campaign_warnings
from campaign.blasts.schedules import next_times, past_at_launch, total_occurrences
from campaign.core.config import Settings
from messages.encoding import UCS2, analyze

FIRST_SEND_TIMES = 3


def _next_firing(session: Session, step: Step, *, now: datetime) -> tuple[datetime | None, int]:
    """(when the step's next firing goes, how many past times collapse into it at launch)."""
    schedule = step_schedule(step)
    launched_at = step.campaign.launched_at
    if launched_at is None:
        past = past_at_launch(schedule, launched_at=now)
        if past:
            return now, past
        upcoming = next_times(schedule, after=now, count=1)
        return (upcoming[0] if upcoming else None), 0
    latest = session.scalar(select(func.max(Occurrence.scheduled_at)).where(Occurrence.step_id == step.id))
    upcoming = next_times(schedule, after=latest or launched_at, count=1)
    if not upcoming:
        return None, 0
    return max(upcoming[0], now), 0


def preview_step(session: Session, step: Step, *, now: datetime, settings: Settings) -> dict[str, Any]:
    """The preview of one step (see the module docstring). Reads only."""
    campaign = step.campaign
    schedule = step_schedule(step)
    fires_at, past = _next_firing(session, step, now=now)
    out: dict[str, Any] = {
        "step": step.key,
        "channel": step.channel,
        "segment": step.segment_slug or step.query,
        "schedule": schedule.kind,
        "occurrences": total_occurrences(schedule),
        "next_fires_at": fires_at,
        "past_times_fire_once_at_launch": past,
        "recipients": 0,
        "languages": {},
        "skipped": {},
        "segments_per_message": {},
        "total_segments": 0,
        "estimated_cost": 0.0,
        "first_send_times": [],
        "ucs2_characters": [],
        "variants": {},
        "channels": {},
    }
    if step.channel == "radio":
        from campaign.radio.airings import airing_rows

        rows = airing_rows(session, step, now=now)
        out["airings"] = len(rows)
        out["stations"] = len({r["station_id"] for r in rows})
        out["languages"] = dict(Counter(r["language"] for r in rows).most_common())
        return out
    if not is_messaging(step.channel) or fires_at is None:
        return out
    plan = load_step_plan(session, step, settings=settings)
    languages: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    per_message: Counter[int] = Counter()
    variants: Counter[str] = Counter()
    ucs2: dict[str, None] = {}
    seen_bodies: set[str] = set()
    send_times: list[datetime] = []
    whatsapp = _WhatsAppCounts(session, step, now=now, settings=settings)
    for rows in plan_rows(session, plan, occurrence=None, fires_at=fires_at, now=now):
        whatsapp.add(rows)
        for row in rows:
            if row["status"] != OutboundStatus.QUEUED:
                skipped[row["skip_reason"]] += 1
                continue
            languages[row["language"]] += 1
            if row.get("channel", SMS) != SMS:
                if row["variant"]:
                    variants[row["variant"]] += 1
                if len(send_times) < FIRST_SEND_TIMES:
                    send_times.append(row["send_after"])
                continue
            per_message[row["segments"]] += 1
            if row["variant"]:
                variants[row["variant"]] += 1
            if len(send_times) < FIRST_SEND_TIMES:
                send_times.append(row["send_after"])
            if row["encoding"] == UCS2 and row["body"] not in seen_bodies:
                seen_bodies.add(row["body"])
                ucs2.update(dict.fromkeys(analyze(row["body"]).non_gsm))
    price = (
        campaign.price_per_segment if campaign.price_per_segment is not None else settings.price_per_segment
    )
    total_segments = sum(segments * n for segments, n in per_message.items())
    channels = {SMS: {"recipients": sum(per_message.values()), "segments": total_segments,
                      "estimated_cost": round(total_segments * price, 2)}}
    if step.channel == WHATSAPP:
        channels[WHATSAPP] = whatsapp.channel_figures()
        out["whatsapp"] = whatsapp.as_dict()
    out.update(
        recipients=sum(languages.values()),
        languages=dict(languages.most_common()),
        skipped=dict(skipped.most_common()),
        segments_per_message={str(k): v for k, v in sorted(per_message.items())},
        total_segments=total_segments,
        estimated_cost=round(total_segments * price + whatsapp.cost, 2),
        channels=channels,
        first_send_times=sorted(send_times),
        ucs2_characters=list(ucs2),
        variants=dict(sorted(variants.items())),
    )
    return out


class _WhatsAppCounts:
    """What a WhatsApp step's planned rows mean per channel (see the module docstring)."""

    def __init__(self, session: Session, step: Step, *, now: datetime, settings: Settings) -> None:
        from messages.models import Message

        self.session, self.now, self.settings = session, now, settings
        self.active = step.channel == WHATSAPP
        self.in_window = 0
        self.template = 0
        self.cost = 0.0
        self.fallback: Counter[str] = Counter()
        self.missing: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.categories: dict[int, str | None] = {}
        if self.active:
            ids = [step.message_id, *(v.get("message_id") for v in step.variants or [])]
            found = session.execute(select(Message.id, Message.whatsapp_category).where(
                Message.id.in_([i for i in ids if i is not None])
            ))
            self.categories = {message_id: category for message_id, category in found}

    def add(self, rows: list[dict[str, Any]]) -> None:
        if not self.active:
            return
        queued = [r for r in rows if r["status"] == OutboundStatus.QUEUED]
        sent_whatsapp = [r for r in queued if r.get("channel") == WHATSAPP]
        sent_sms = [r for r in queued if r.get("channel", SMS) == SMS]
        window = whatsapp_window_open(self.session, [r["contact_id"] for r in sent_whatsapp], self.now)
        for row in sent_whatsapp:
            if row["contact_id"] in window:
                self.in_window += 1
                self.cost += self.settings.whatsapp_price("session")
            else:
                self.template += 1
                self.cost += self.settings.whatsapp_price(self.categories.get(row["message_id"]))
        opted = whatsapp_opted_in(self.session, [r["contact_id"] for r in sent_sms])
        for row in sent_sms:
            ok, preferred = opted.get(row["contact_id"], (False, None))
            if not ok:
                self.fallback["no_whatsapp_consent"] += 1
            elif preferred == SMS:
                self.fallback["prefers_sms"] += 1
            else:  # opted in, outside the window, no template in their language
                self.fallback["no_template"] += 1
                self.missing[row["language"] or "-"] += 1
        for row in rows:
            if row["status"] != OutboundStatus.QUEUED and row.get("channel") == WHATSAPP:
                self.skipped[row["skip_reason"]] += 1
                if row["skip_reason"] == TEMPLATE_MISSING:
                    self.missing[row["language"] or "-"] += 1

    def channel_figures(self) -> dict[str, Any]:
        return {"recipients": self.in_window + self.template, "in_window": self.in_window,
                "template": self.template, "estimated_cost": round(self.cost, 2)}

    def as_dict(self) -> dict[str, Any]:
        return {
            "in_window": self.in_window,
            "template": self.template,
            "sms_fallback": dict(self.fallback.most_common()),
            "skipped": dict(self.skipped.most_common()),
            "missing_template_languages": dict(sorted(self.missing.items())),
            "category": next((c for c in self.categories.values() if c), None),
        }


def preview_campaign(session: Session, slug: str, *, now: datetime, settings: Settings) -> dict[str, Any]:
    """The preview of every step of a campaign, with totals per firing and for all firings."""
    campaign = get_campaign(session, slug)
    price = (
        campaign.price_per_segment if campaign.price_per_segment is not None else settings.price_per_segment
    )
    steps = [preview_step(session, step, now=now, settings=settings) for step in campaign.steps]
    warnings = campaign_warnings(session, campaign, steps, settings=settings, now=now)
    for step in steps:
        step["warnings"] = [w.message for w in warnings if w.step == step["step"]]
    all_firings = sum(s["estimated_cost"] * (s["occurrences"] or 1) for s in steps)
    by_channel: dict[str, dict[str, float]] = {}
    for s in steps:
        for channel, figures in s["channels"].items():
            total = by_channel.setdefault(channel, {"recipients": 0, "estimated_cost": 0.0})
            total["recipients"] += figures["recipients"]
            total["estimated_cost"] = round(total["estimated_cost"] + figures["estimated_cost"], 2)
    return {
        "campaign": campaign.slug,
        "name": campaign.name,
        "status": campaign.status,
        "timezone": campaign.timezone,
        "price_per_segment": price,
        "currency": settings.price_currency,
        "whatsapp_prices": {c: settings.whatsapp_price(c)
                            for c in ("marketing", "utility", "authentication", "session")},
        "steps": steps,
        "warnings": [w.as_dict() for w in warnings],
        "totals": {
            "recipients_next_firing": sum(s["recipients"] for s in steps),
            "segments_next_firing": sum(s["total_segments"] for s in steps),
            "cost_next_firing": round(sum(s["estimated_cost"] for s in steps), 2),
            "cost_all_firings": round(all_firings, 2),
            "by_channel": by_channel,
        },
    }
