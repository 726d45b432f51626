"""Campaign commands: create, list, show, preview, launch, pause, resume, cancel, tick, scheduler,
report, demo. Thin: parse, open one unit of work, call one service, print (Rich or --json)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from campaign.blasts.labels import campaign_label, tick_label
from campaign.core.console import (
    JSON_OPTION,
    ask_yes_no,
    echo_json,
    in_words,
    info,
    print_table,
    session_scope,
    warn,
)
from campaign.core.errors import Invalid
from campaign.core.i18n import _, ngettext

NOW_OPTION = typer.Option(None, "--now", help="Pretend it is this time (ISO 8601; naive = UTC).")
FILE_ARGUMENT = typer.Argument(..., help="Campaign file (YAML).")
OUT_OPTION = typer.Option(None, "--out", help="Write to this file (required for xlsx).")


def parse_now(value: str | None) -> datetime:
    """`--now` as aware UTC (the current time when absent); raises Invalid("--now", ...)."""
    from campaign.core.db import utcnow

    if not value:
        return utcnow()
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        reason = _("%(value)r is not an ISO date-time such as 2027-01-11T16:00:00Z", value=value)
        raise Invalid("--now", reason) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def _settings() -> Any:
    from campaign.core.config import get_settings

    return get_settings()


def create_command(
    path: Path = FILE_ARGUMENT,
    json_output: bool = JSON_OPTION,
) -> None:
    """Create a campaign from a YAML file, or update it (while draft, scheduled or paused)."""
    from campaign.blasts.campaigns import create_from_file
    from campaign.blasts.rules import rules_from

    settings = _settings()
    with session_scope(settings) as session:
        campaign, created = create_from_file(
            session,
            path,
            now=parse_now(None),
            default_timezone=settings.timezone,
            rules=rules_from(settings),
        )
        result: dict[str, Any] = {
            "slug": campaign.slug,
            "created": created,
            "status": campaign.status,
            "steps": [s.key for s in campaign.steps],
        }
        result["warnings"] = _reach_warnings(session, campaign.slug, settings)
    if json_output:
        echo_json(result)
    else:
        from rich.markup import escape

        values = {
            "slug": f"[bold]{escape(result['slug'])}[/bold]",
            "status": campaign_label(result["status"]),
            "steps": escape(", ".join(result["steps"])),
        }
        if created:
            info(_("Created campaign %(slug)s (%(status)s) with steps: %(steps)s", **values))
        else:
            info(_("Updated campaign %(slug)s (%(status)s) with steps: %(steps)s", **values))
        show_warnings(result["warnings"])


def _reach_warnings(session: Any, slug: str, settings: Any) -> list[dict[str, str]]:
    """What the preview warns about (reach, skips, send window), computed right after saving."""
    from campaign.blasts.preview import preview_campaign

    return list(preview_campaign(session, slug, now=parse_now(None), settings=settings)["warnings"])


def show_warnings(warnings: list[dict[str, str]]) -> None:
    """One line each, on stderr: a step reaching nobody, skipping many, or held by the window."""
    from rich.markup import escape

    for warning in warnings:
        warn(escape(warning["message"]))


def list_command(json_output: bool = JSON_OPTION) -> None:
    """List campaigns."""
    from campaign.blasts.campaigns import failed_firings, list_campaigns

    with session_scope() as session:
        campaigns = list_campaigns(session)
        failures = failed_firings(session, [c.id for c in campaigns])
        rows = [
            {
                "slug": c.slug,
                "name": c.name,
                "status": c.status,
                "timezone": c.timezone,
                "steps": len(c.steps),
                "launched_at": c.launched_at,
                "failed_firings": len(failures[c.id]),
            }
            for c in campaigns
        ]
    if json_output:
        echo_json(rows)
    else:
        print_table(
            [
                _("slug"),
                _("name"),
                _("status"),
                _("timezone"),
                _("steps"),
                _("launched"),
                _("failed firings"),
            ],
            [
                [
                    r["slug"],
                    r["name"],
                    campaign_label(r["status"]),
                    r["timezone"],
                    r["steps"],
                    r["launched_at"],
                    r["failed_firings"] or "",
                ]
                for r in rows
            ],
            title=_("Campaigns"),
        )
        failing = [str(r["slug"]) for r in rows if r["failed_firings"]]
        if failing:
            warn(_("firings failed in %(campaigns)s: see `campaign show`", campaigns=", ".join(failing)))


def print_failed_firings(failures: list[dict[str, Any]]) -> None:
    """The firings of a campaign that failed, with their reasons (a table for people)."""
    from rich.markup import escape

    if not failures:
        return
    print_table(
        [_("step"), _("scheduled (UTC)"), _("failed at (UTC)"), _("reason")],
        [
            [escape(f["step"]), _iso(f["scheduled_at"]), _iso(f["failed_at"]), escape(f["reason"] or "")]
            for f in failures
        ],
        title=_("Failed firings: nothing was sent for these; fix the step and save the campaign again"),
    )


def _iso(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if value else ""


def show_command(slug: str, json_output: bool = JSON_OPTION) -> None:
    """Show a campaign and its steps."""
    from campaign.blasts.campaigns import failed_firings, get_campaign

    with session_scope() as session:
        c = get_campaign(session, slug)
        failures = failed_firings(session, [c.id])[c.id]
        data: dict[str, Any] = {
            "slug": c.slug,
            "name": c.name,
            "status": c.status,
            "timezone": c.timezone,
            "send_window": [c.window_start.strftime("%H:%M"), c.window_end.strftime("%H:%M")],
            "weekend": c.weekend_window,
            "variables": c.variables,
            "max_per_hour": c.max_per_hour,
            "launched_at": c.launched_at,
            "steps": [
                {
                    "id": s.key,
                    "channel": s.channel,
                    "message_id": s.message_id,
                    "segment": s.segment_slug or s.query,
                    "at": s.at,
                    "rrule": s.rrule,
                    "starts": s.starts,
                    "offset": s.offset,
                    "fallback": s.fallback,
                    "encoding": s.encoding,
                    "deadline_hours": s.deadline_hours,
                    "variants": s.variants,
                    "version": s.version,
                }
                for s in c.steps
            ],
            "failed_firings": failures,
        }
    if json_output:
        echo_json(data)
        return
    from campaign.blasts.schedule_words import describe_schedule

    pacing = (
        _("%(num)s/hour", num=data["max_per_hour"]) if data["max_per_hour"] else _("no pacing limit")
    )
    bold_slug = f"[bold]{data['slug']}[/bold]"
    info(
        _(
            "%(slug)s %(name)s: %(status)s, %(zone)s, window %(window)s, pacing %(pacing)s",
            slug=bold_slug,
            name=data["name"],
            status=campaign_label(data["status"]),
            zone=data["timezone"],
            window="-".join(data["send_window"]),
            pacing=pacing,
        )
    )
    print_table(
        [
            _("step"),
            _("channel"),
            _("segment"),
            _("schedule (%(zone)s)", zone=data["timezone"]),
            _("fallback"),
            _("encoding"),
            _("version"),
        ],
        [
            [
                s["id"],
                s["channel"],
                s["segment"],
                describe_schedule(
                    at=s["at"],
                    rrule=s["rrule"],
                    starts=s["starts"],
                    offset=s["offset"],
                    timezone=data["timezone"],
                ),
                ",".join(s["fallback"]),
                s["encoding"] or _("language default"),
                s["version"],
            ]
            for s in data["steps"]
        ],
        title=_("Steps"),
    )
    print_failed_firings(failures)


def preview_command(slug: str, json_output: bool = JSON_OPTION, now: str | None = NOW_OPTION) -> None:
    """Reach and cost of each step (the same code path as planning; nothing is written)."""
    from campaign.blasts.preview import preview_campaign

    settings = _settings()
    with session_scope(settings) as session:
        data = preview_campaign(session, slug, now=parse_now(now), settings=settings)
    if json_output:
        echo_json(data)
        return
    print_preview_steps(data)
    totals = data["totals"]
    info(
        _(
            "Next firings: %(recipients)s recipients, %(segments)s segments, %(cost).2f %(currency)s.",
            recipients=totals["recipients_next_firing"],
            segments=totals["segments_next_firing"],
            cost=totals["cost_next_firing"],
            currency=data["currency"],
        )
    )
    info(
        _(
            "All firings: about %(cost).2f %(currency)s at %(price)s per segment.",
            cost=totals["cost_all_firings"],
            currency=data["currency"],
            price=data["price_per_segment"],
        )
    )
    show_warnings(data["warnings"])


def print_preview_steps(data: dict[str, Any]) -> None:
    """Each step as a short block of labelled lines (readable at 100 columns), with send times in
    the campaign's timezone."""
    from zoneinfo import ZoneInfo

    from rich.markup import escape

    zone = ZoneInfo(data["timezone"])
    currency = data["currency"]
    info(
        _(
            "Preview of %(campaign)s: the next firing of each step; times in %(zone)s.",
            campaign=data["campaign"],
            zone=data["timezone"],
        )
    )
    for s in data["steps"]:
        radio = s["channel"] == "radio"
        audience = _("%(num)s station(s)", num=s.get("stations", 0)) if radio else escape(s["segment"] or "")
        first = [t.astimezone(zone).strftime("%Y-%m-%d %H:%M") for t in s["first_send_times"][:1]]
        firings = s["occurrences"] if s["occurrences"] is not None else _("open-ended")
        lines = [
            (_("reach"), _("%(num)s airings", num=s.get("airings", 0)) if radio else str(s["recipients"])),
            (_("languages"), in_words(s["languages"])),
        ]
        if not radio:
            lines += [
                (_("skipped"), in_words(s["skipped"], label=campaign_label)),
                (
                    _("SMS segments"),
                    _(
                        "%(total)s (per message: %(each)s), about %(cost).2f %(currency)s",
                        total=s["total_segments"],
                        each=in_words(s["segments_per_message"]),
                        cost=s["estimated_cost"],
                        currency=currency,
                    ),
                ),
                (_("first send"), first[0] if first else "-"),
                (_("UCS-2 characters"), "".join(s["ucs2_characters"]) or "-"),
            ]
            lines += _channel_lines(s, currency)
        lines.append((_("firings"), str(firings)))
        info(f"\n[bold]{escape(s['step'])}[/bold] ({s['channel']}, {audience})")
        for label, value in lines:
            info(f"  {label + ':':<18} {escape(value)}")
        if s["past_times_fire_once_at_launch"]:
            info(
                "  "
                + _(
                    "%(num)s scheduled time(s) already past: they fire once, at launch",
                    num=s["past_times_fire_once_at_launch"],
                )
            )
    info("")


def _channel_lines(step: dict[str, Any], currency: str) -> list[tuple[str, str]]:
    """A WhatsApp step's figures per channel: WhatsApp inside the window (free text), with a
    template, SMS instead and why, skipped and why, and each channel's cost."""
    figures = step.get("whatsapp")
    if not figures:
        return []
    channels = step["channels"]
    sms, whatsapp = channels.get("sms", {}), channels.get("whatsapp", {})
    return [
        (_("WhatsApp"), _(
            "%(num)s: %(window)s free text inside the 24 h window, %(template)s with a template "
            "(%(category)s); about %(cost).2f %(currency)s",
            num=whatsapp.get("recipients", 0), window=figures["in_window"], template=figures["template"],
            category=whatsapp_category_word(figures.get("category")),
            cost=whatsapp.get("estimated_cost", 0.0), currency=currency,
        )),
        (_("SMS instead"), _(
            "%(num)s (%(why)s); about %(cost).2f %(currency)s", num=sms.get("recipients", 0),
            why=in_words(figures["sms_fallback"], label=campaign_label) if figures["sms_fallback"] else "-",
            cost=sms.get("estimated_cost", 0.0), currency=currency,
        )),
        (_("no template"), in_words(figures["missing_template_languages"])
         if figures["missing_template_languages"] else "-"),
    ]


def whatsapp_category_word(category: str | None) -> str:
    from messages.whatsapp import category_word

    return category_word(category)


ALLOW_EMPTY_OPTION = typer.Option(
    False, "--allow-empty", help="Launch even when a step would reach nobody (refused otherwise)."
)


ALLOW_PARTIAL_OPTION = typer.Option(
    False, "--allow-partial",
    help="Launch even when a WhatsApp-only step would skip contacts outside the 24 h window whose "
    "language has no WhatsApp template (refused otherwise).",
)


YES_OPTION = typer.Option(
    False, "--yes", "-y", help="Launch without asking (scripts): the reach and cost are not shown first."
)


def launch_command(
    slug: str,
    yes: bool = YES_OPTION,
    allow_empty: bool = ALLOW_EMPTY_OPTION,
    allow_partial: bool = ALLOW_PARTIAL_OPTION,
    json_output: bool = JSON_OPTION,
    now: str | None = NOW_OPTION,
) -> None:
    """Launch a draft campaign: shows recipients, segments and cost and asks (`--yes` for scripts).

    Refused, with every reason, when a check fails. Without a terminal to ask on and without
    `--yes`, nothing is launched (exit 2)."""
    from campaign.blasts.campaigns import get_campaign
    from campaign.blasts.lifecycle import check_launch, launch, launch_warnings
    from campaign.blasts.preview import preview_campaign

    settings = _settings()
    when = parse_now(now)
    if not yes:
        with session_scope(settings) as session:
            campaign = get_campaign(session, slug)
            check_launch(session, campaign, settings=settings, now=when, allow_empty=allow_empty,
                         allow_partial=allow_partial)
            data = preview_campaign(session, slug, now=when, settings=settings)
        _confirm_launch(data)
    with session_scope(settings) as session:
        campaign = launch(session, slug, now=when, settings=settings, allow_empty=allow_empty,
                          allow_partial=allow_partial)
        warnings = launch_warnings(session, campaign)
        result = {
            "slug": campaign.slug,
            "status": campaign.status,
            "launched_at": campaign.launched_at,
            "warnings": warnings,
        }
    for line in warnings:
        warn(line)
    if json_output:
        echo_json(result)
    else:
        info(
            _(
                "Launched %(slug)s: %(status)s. The scheduler (`campaign scheduler` or `campaign tick`) "
                "plans and sends each step when it falls due.",
                slug=slug,
                status=campaign_label(result["status"]),
            )
        )


def _confirm_launch(data: dict[str, Any]) -> None:
    """Shows what the launch will send and cost, and asks; raises when it cannot ask or hears no."""
    import sys

    if not sys.stdin.isatty():
        raise Invalid(
            "--yes",
            _(
                "launching sends messages that cost money, and there is no terminal to ask for "
                "confirmation: nothing was launched (run it in a terminal, or pass --yes in scripts)"
            ),
        )
    print_preview_steps(data)
    show_warnings(data["warnings"])
    totals = data["totals"]
    question = _(
        "Send to %(recipients)d recipients (%(segments)d SMS segments, about %(cost).2f %(currency)s "
        "at the next firings; %(all).2f %(currency)s over all firings)?",
        recipients=totals["recipients_next_firing"],
        segments=totals["segments_next_firing"],
        cost=totals["cost_next_firing"],
        all=totals["cost_all_firings"],
        currency=data["currency"],
    )
    if not ask_yes_no(question):
        info(_("Nothing launched."))
        raise typer.Exit(1)


def _status_command(action: str) -> Any:
    def command(slug: str, json_output: bool = JSON_OPTION, now: str | None = NOW_OPTION) -> None:
        from campaign.blasts import lifecycle

        with session_scope() as session:
            outcome = getattr(lifecycle, action)(session, slug, now=parse_now(now))
            campaign, cancelled = outcome if isinstance(outcome, tuple) else (outcome, None)
            result = {"slug": campaign.slug, "status": campaign.status}
            if cancelled is not None:
                result["messages_cancelled"] = cancelled
        if json_output:
            echo_json(result)
        else:
            status = campaign_label(result["status"])
            if cancelled is None:
                info(_("%(slug)s: %(status)s", slug=slug, status=status))
            else:
                info(
                    _(
                        "%(slug)s: %(status)s (%(num)d queued messages cancelled)",
                        slug=slug,
                        status=status,
                        num=cancelled,
                    )
                )

    command.__doc__ = {
        "pause": "Pause a campaign: nothing more is planned or sent until resumed.",
        "resume": "Resume a paused campaign.",
        "cancel": "Cancel a campaign and every message still queued.",
    }[action]
    return command


def tick_command(now: str | None = NOW_OPTION, json_output: bool = JSON_OPTION) -> None:
    """Run exactly one scheduler tick (cron, tests, the demo's accelerated clock).

    Exits 0 when a campaign's firing failed (it is shown, and stored on that campaign), 1 when
    a whole stage of the tick failed."""
    from rich.markup import escape

    from campaign.blasts.scheduling import tick
    from campaign.core.console import engine
    from campaign.providers import get_provider

    settings = _settings()
    result = tick(engine(settings), get_provider(settings), now=parse_now(now), settings=settings)
    data = result.as_dict()
    if json_output:
        echo_json(data)
    else:
        hidden = {"now", "failed", "retry", "errors"}
        print_table(
            [_("what"), _("count")],
            [[tick_label(k), in_words(v, label=tick_label)] for k, v in data.items() if k not in hidden],
            title=_("Tick at %(now)s", now=data["now"]),
        )
        if result.failed:
            warn(
                ngettext(
                    "%(num)d firing failed in its campaign; every other campaign went on",
                    "%(num)d firings failed in their campaigns; every other campaign went on",
                    len(result.failed),
                )
            )
            print_table(
                [_("campaign"), _("step"), _("scheduled (UTC)"), _("reason")],
                [
                    [escape(f.campaign), escape(f.step), _iso(f.scheduled_at), escape(f.reason)]
                    for f in result.failed
                ],
            )
        if result.retry:
            warn(
                ngettext(
                    "%(num)d firing postponed to the next tick (database busy or unreachable)",
                    "%(num)d firings postponed to the next tick (database busy or unreachable)",
                    len(result.retry),
                )
            )
    for error in result.errors:
        warn(_("tick stage failed: %(error)s", error=error))
    if result.errors:
        raise typer.Exit(1)


def scheduler_command(
    max_ticks: int = typer.Option(None, "--max-ticks", help="Stop after this many ticks (testing)."),
) -> None:
    """Run the scheduler loop every CAMPAIGN_TICK_SECONDS until SIGTERM/SIGINT."""
    from campaign.blasts.scheduling import run_forever

    settings = _settings()
    seconds = f"{settings.tick_seconds:g}"
    info(
        _(
            "Scheduler running every %(seconds)s s on %(provider)s; Ctrl-C to stop.",
            seconds=seconds,
            provider=settings.provider,
        )
    )
    ticks = run_forever(settings, max_ticks=max_ticks)
    info(_("Scheduler stopped after %(num)d tick(s).", num=ticks))


def report_command(
    slug: str,
    format: str = typer.Option("table", "--format", help="table, csv, xlsx or json."),
    out: Path = OUT_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Results per step x segment x language: planned, sent, delivered, failed, replies, cost."""
    from campaign.blasts.reports import campaign_report, write_report

    if json_output:
        format = "json"
    if format not in ("table", "csv", "xlsx", "json"):
        raise Invalid("--format", _("%(value)r is not one of %(choices)s", value=format,
                                    choices="table, csv, xlsx, json"))
    if format == "xlsx" and out is None:
        raise Invalid("--out", _("xlsx needs an output file"))
    from campaign.blasts.campaigns import failed_firings, get_campaign

    with session_scope() as session:
        report = campaign_report(session, slug)
        campaign_id = get_campaign(session, slug).id
        failures = failed_firings(session, [campaign_id])[campaign_id]
    if failures:
        warn(
            ngettext(
                "%(num)d firing of this campaign failed and sent nothing (see `campaign show %(slug)s`)",
                "%(num)d firings of this campaign failed and sent nothing (see `campaign show %(slug)s`)",
                len(failures),
                slug=slug,
            )
        )
    if format == "table" and out is None:
        from campaign.blasts.reports import print_report

        print_report(report)
        print_failed_firings(failures)
        return
    text = write_report(report, format=format, out=out)
    if out is None:
        typer.echo(text)
    else:
        info(_("Report written to %(path)s", path=out))


def demo_command(
    contacts: int = typer.Option(5000, "--contacts", help="Synthetic audience size."),
    days: int = typer.Option(3, "--days", help="Simulated days to run."),
    force: bool = typer.Option(
        False, "--force", help="Rebuild the SQLite database even if it holds data the demo did not create."
    ),
) -> None:
    """The whole loop, with synthetic data, on the configured SQLite database (rebuilt from scratch)."""
    from campaign.demo import run_demo

    run_demo(contacts=contacts, days=days, force=force)


def register(app: typer.Typer) -> None:
    """Adds this area's commands to the root `campaign` app."""
    app.command("create")(create_command)
    app.command("list")(list_command)
    app.command("show")(show_command)
    app.command("preview")(preview_command)
    app.command("launch")(launch_command)
    for action in ("pause", "resume", "cancel"):
        app.command(action)(_status_command(action))
    app.command("tick")(tick_command)
    app.command("scheduler")(scheduler_command)
    app.command("report")(report_command)
    app.command("demo")(demo_command)
