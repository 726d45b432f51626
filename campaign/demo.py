"""`campaign demo` (`make demo`): the whole loop on a fresh SQLite database with synthetic data.

Fresh database under ./var/ -> schema -> shipped content pack -> synthetic audience (generated,
then imported like any CSV) -> sample radio stations -> the sample campaign (created, previewed,
launched on a simulated clock just before its first step) -> an accelerated clock ticking the
scheduler through a few simulated days on the sandbox provider (delivery callbacks and replies
included) -> the campaign report, checked against the database, and where to go next.
All people and phone numbers are synthetic.
"""

from __future__ import annotations

import os
import secrets
import time as time_module
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select

from campaign.config import Settings, get_settings
from campaign.console import info
from campaign.db import make_engine, unit_of_work

SAMPLES = Path(__file__).with_name("samples")
CAMPAIGN_FILE = SAMPLES / "frontera-segura.yaml"
STATIONS_FILE = SAMPLES / "stations.yaml"
# Monday 11 January 2027, 09:55 in Guatemala (UTC-6): five minutes before the first step.
DEMO_START = datetime(2027, 1, 11, 15, 55, tzinfo=UTC)


@dataclass
class DemoResult:
    """What the demo produced, for the caller (and its test)."""

    database_url: str
    campaign: str
    contacts: int
    ticks: int
    seconds: float
    totals: dict[str, Any]
    database_counts: dict[str, int]


def _fresh_database(var: Path) -> str:
    var.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        (var / f"demo.db{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{(var / 'demo.db').resolve()}"


def database_counts(session: Any, campaign_id: int) -> dict[str, int]:
    """Counts straight from the tables, to check the report against."""
    from campaign.models import Inbound, Intent, Outbound, OutboundStatus

    def outbound(*statuses: OutboundStatus, or_sent: bool = False) -> int:
        condition = Outbound.status.in_(statuses)
        if or_sent:  # accepted by the provider, whatever happened next
            condition = or_(condition, Outbound.sent_at.is_not(None))
        query = select(func.count(Outbound.id)).where(Outbound.campaign_id == campaign_id, condition)
        return int(session.scalar(query) or 0)

    def inbound(*intents: Intent) -> int:
        query = (
            select(func.count(Inbound.id))
            .join(Outbound, Outbound.id == Inbound.outbound_id)
            .where(Outbound.campaign_id == campaign_id)
        )
        if intents:
            query = query.where(Inbound.intent.in_(intents))
        return int(session.scalar(query) or 0)

    return {
        "sent": outbound(
            OutboundStatus.SENT, OutboundStatus.DELIVERED, OutboundStatus.UNDELIVERED, or_sent=True
        ),
        "delivered": outbound(OutboundStatus.DELIVERED),
        "replies": inbound(),
        "opt_outs": inbound(Intent.OPT_OUT),
    }


def run_demo(
    *,
    contacts: int = 5000,
    days: int = 3,
    tick_minutes: int = 10,
    var: Path | None = None,
    seed: int = 1,
    quiet: bool = False,
) -> DemoResult:
    """Runs the demo (see the module docstring) and prints what happens. Returns the figures."""
    started = time_module.perf_counter()
    say = (lambda _m: None) if quiet else info
    url = _fresh_database(var or Path("var"))
    # The demo is its own deployment: its database, the sandbox, and no real-time rate limit to
    # wait for (the simulated clock runs days in seconds).
    os.environ["CAMPAIGN_DATABASE_URL"] = url
    os.environ["CAMPAIGN_PROVIDER"] = "sandbox"
    os.environ.setdefault("CAMPAIGN_RATE_PER_SECOND", "2000")
    settings = get_settings(database_url=url, provider="sandbox", sandbox_seed=seed)
    engine = make_engine(url)
    try:
        return _run(
            engine,
            settings,
            contacts=contacts,
            days=days,
            tick_minutes=tick_minutes,
            seed=seed,
            say=say,
            started=started,
            var=var or Path("var"),
        )
    finally:
        engine.dispose()


def _run(
    engine: Any,
    settings: Settings,
    *,
    contacts: int,
    days: int,
    tick_minutes: int,
    seed: int,
    say: Any,
    started: float,
    var: Path,
) -> DemoResult:
    from audiences.importer import import_file
    from audiences.sample import write_csv
    from audiences.segments import ensure_builtin_segments
    from campaign.campaigns import create_from_file
    from campaign.lifecycle import launch
    from campaign.preview import preview_campaign
    from campaign.providers import get_provider
    from campaign.reports import campaign_report, print_report
    from campaign.scheduling import tick
    from campaign.schema import upgrade
    from messages.packload import load_pack

    now = DEMO_START
    upgrade(engine)
    say(f"[bold]1.[/bold] Fresh database {url_display(settings)}: schema created.")
    with unit_of_work(engine) as session:
        pack = load_pack(session, now=now)
        ensure_builtin_segments(session)
    say(f"[bold]2.[/bold] Content pack loaded: {_pack_summary(pack)}.")
    csv = write_csv(var / "demo-audience.csv", contacts, seed)
    with unit_of_work(engine) as session:
        summary = import_file(session, csv, partial=True, now=now)
    say(
        f"[bold]3.[/bold] Synthetic audience (no real people): {summary.imported} contacts imported, "
        f"{summary.rejected} bad rows rejected with reasons."
    )
    stations = _load_stations(engine)
    if stations:
        say(f"[bold]4.[/bold] {stations} sample radio stations loaded.")
    with unit_of_work(engine) as session:
        campaign, _ = create_from_file(session, CAMPAIGN_FILE, now=now, default_timezone=settings.timezone)
        slug, campaign_id = campaign.slug, campaign.id
        preview = preview_campaign(session, slug, now=now, settings=settings)
    for step in preview["steps"]:
        if step["channel"] == "sms":
            say(
                f"   preview {step['step']}: {step['recipients']} recipients "
                f"({', '.join(f'{k} {v}' for k, v in step['languages'].items())}), "
                f"skipped {step['skipped']}, "
                f"{step['total_segments']} segments ~{step['estimated_cost']:.2f} {preview['currency']}"
            )
    with unit_of_work(engine) as session:
        launch(session, slug, now=now, settings=settings, actor="demo")
    with unit_of_work(engine) as session:
        from campaign.models import Airing

        airings = session.scalar(select(func.count(Airing.id)))
    say(
        f"[bold]5.[/bold] Campaign {slug} launched at {now:%Y-%m-%d %H:%M} UTC (simulated clock); "
        f"{airings} radio airings planned."
    )
    provider = get_provider(settings)
    end = now + timedelta(days=days)
    ticks = 0
    while now <= end:
        result = tick(engine, provider, now=now, settings=settings)
        ticks += 1
        if result.queued:
            say(f"   {now:%a %d %H:%M} UTC: planned {result.queued} messages ({result.skipped} skipped)")
        now += timedelta(minutes=tick_minutes)
    for _ in range(3):  # let the last simulated callbacks and replies arrive
        tick(engine, provider, now=now, settings=settings)
        now += timedelta(minutes=tick_minutes)
        ticks += 1
    say(f"[bold]6.[/bold] {ticks} scheduler ticks over {days} simulated days on the sandbox provider.")
    with unit_of_work(engine) as session:
        report = campaign_report(session, slug)
        counts = database_counts(session, campaign_id)
    if say is info:
        print_report(report)
    _check(report.totals, counts)
    admin = _demo_admin(engine, now=now)
    elapsed = time_module.perf_counter() - started
    say(
        f"[bold]7.[/bold] Report matches the database (sent {counts['sent']}, "
        f"delivered {counts['delivered']}, "
        f"replies {counts['replies']}, opt-outs {counts['opt_outs']}). Demo took {elapsed:.0f} s."
    )
    say(
        f"Open the web app: CAMPAIGN_DATABASE_URL={settings.database_url} campaign serve "
        f"(http://{settings.host}:{settings.port})"
    )
    if admin:
        say(
            f"   demo admin user: [bold]demo-admin[/bold] / password [bold]{admin}[/bold] "
            "(synthetic, demo only)"
        )
    say(
        f"Radio exports: CAMPAIGN_DATABASE_URL={settings.database_url} campaign radio export ... "
        f"(files go to {settings.export_dir})"
    )
    return DemoResult(settings.database_url, slug, summary.imported, ticks, elapsed, report.totals, counts)


def url_display(settings: Settings) -> str:
    return settings.masked()["database_url"]


def _pack_summary(pack: Any) -> str:
    return f"{pack.pack}: {len(pack.added)} messages added, {len(pack.changed)} changed"


def _load_stations(engine: Any) -> int:
    if not STATIONS_FILE.exists():
        return 0
    try:
        from campaign.radio.stations import load_stations
    except ImportError:
        return 0
    with unit_of_work(engine) as session:
        summary = load_stations(session, STATIONS_FILE)
    return int(summary.created + summary.updated)


def _demo_admin(engine: Any, *, now: datetime) -> str | None:
    try:
        from campaign.users import create_user
    except ImportError:
        return None
    password = "demo-" + secrets.token_urlsafe(9)
    with unit_of_work(engine) as session:
        create_user(session, username="demo-admin", password=password, role="admin", now=now, actor="demo")
    return password


def _check(totals: dict[str, Any], counts: dict[str, int]) -> None:
    for key, value in counts.items():
        if totals.get(key) != value:
            raise AssertionError(f"report {key} = {totals.get(key)} but the database says {value}")
