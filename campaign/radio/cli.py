"""`campaign radio ...`: stations, airing plan and schedule, the producers' log, calibration, exports."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from campaign.core.console import JSON_OPTION, echo_json, info, print_table, session_scope
from campaign.core.db import utcnow
from campaign.core.i18n import _

radio_app = typer.Typer(no_args_is_help=True, help="Radio: stations, airings, log, calibration, exports.")
stations_app = typer.Typer(no_args_is_help=True, help="Radio stations.")
radio_app.add_typer(stations_app, name="stations")


def register(app: typer.Typer) -> None:
    """Adds this area's commands to the root `campaign` app."""
    app.add_typer(radio_app, name="radio")


@stations_app.command("load")
def stations_load(
    file: Annotated[Path, typer.Argument(help="CSV or YAML: slug, name, frequency, department, "
                                         "municipality, languages, contact_person, notes")],
    json_output: bool = JSON_OPTION,
) -> None:
    """Create or update stations from a file (all rows are checked before anything is stored)."""
    from campaign.radio.stations import load_stations

    with session_scope() as session:
        summary = load_stations(session, file)
    if json_output:
        echo_json(summary.__dict__)
    else:
        info(
            _(
                "%(rows)d station(s): %(created)d created, %(updated)d updated.",
                rows=summary.rows,
                created=summary.created,
                updated=summary.updated,
            )
        )


@stations_app.command("list")
def stations_list(json_output: bool = JSON_OPTION) -> None:
    """List the stations and the languages they broadcast in."""
    from campaign.radio.stations import list_stations, station_dict

    with session_scope() as session:
        stations = [station_dict(s) for s in list_stations(session)]
    if json_output:
        echo_json(stations)
        return
    print_table(
        [_("slug"), _("name"), _("frequency"), _("department"), _("languages"), _("contact")],
        [
            [s["slug"], s["name"], s["frequency"], s["department"], ", ".join(s["languages"]),
             s["contact_person"]]
            for s in stations
        ],
    )


@radio_app.command("plan")
def plan_command(
    campaign: Annotated[str, typer.Argument(help="Campaign slug")], json_output: bool = JSON_OPTION
) -> None:
    """Plan the airings of a campaign's radio steps now (the scheduler also does this; idempotent)."""
    from campaign.radio.airings import plan_campaign_airings

    with session_scope() as session:
        added = plan_campaign_airings(session, campaign, now=utcnow())
    if json_output:
        echo_json({"campaign": campaign, "planned": added})
    else:
        info(_("%(added)d new airing(s) planned for %(campaign)s.", added=added, campaign=campaign))


@radio_app.command("schedule")
def schedule_command(
    campaign: Annotated[str, typer.Argument(help="Campaign slug")],
    station: Annotated[str | None, typer.Option("--station", help="Only this station (slug)")] = None,
    lang: Annotated[str | None, typer.Option("--lang", help="Only this language code")] = None,
    json_output: bool = JSON_OPTION,
) -> None:
    """Show the airing plan in the campaign's local time, planned vs aired vs missed."""
    from campaign.radio.airings import schedule_rows, status_counts

    with session_scope() as session:
        rows = schedule_rows(session, campaign, station=station, language=lang)
    counts = status_counts(rows)
    if json_output:
        echo_json({"campaign": campaign, "counts": counts, "airings": [r.as_dict() for r in rows]})
        return
    print_table(
        [_("station"), _("date"), _("time"), _("spot"), _("lang"), _("duration"), _("status"), _("notes")],
        [
            [
                r.station,
                r.local_time.date().isoformat(),
                r.local_time.strftime("%H:%M"),
                r.title or r.spot,
                r.language,
                "" if r.duration_seconds is None else f"{r.duration_seconds:.1f} s",
                _airing_status(r.status, r.aired_at),
                r.notes,
            ]
            for r in rows
        ],
        title=_("Radio schedule of %(campaign)s", campaign=campaign),
    )
    info(
        _(
            "planned %(planned)d · aired %(aired)d · missed %(missed)d",
            planned=counts["planned"],
            aired=counts["aired"],
            missed=counts["missed"],
        )
    )


def _airing_status(status: str, aired_at: datetime | None) -> str:
    """`aired 18:35` (the time the producer's log gives), `to air`, `missed`, in the user's language."""
    if status == "aired":
        at = "" if aired_at is None else aired_at.strftime("%H:%M")
        return _("aired %(time)s", time=at)
    return {"planned": _("to air"), "missed": _("missed")}.get(status, status)


@radio_app.command("log")
def log_command(
    station: Annotated[str, typer.Argument(help="Station slug")],
    file: Annotated[
        Path,
        typer.Argument(help="CSV: date, time, spot, aired, notes (or fecha, hora, spot, salió, notas)"),
    ],
    json_output: bool = JSON_OPTION,
) -> None:
    """Record what actually aired on a station (all rows are checked before anything changes).

    A logged time matches the nearest planned slot within CAMPAIGN_RADIO_LOG_TOLERANCE_MINUTES."""
    from datetime import timedelta

    from campaign.core.config import get_settings
    from campaign.radio.log import record_log

    tolerance = timedelta(minutes=get_settings().radio_log_tolerance_minutes)
    with session_scope() as session:
        summary = record_log(session, station, file, tolerance=tolerance)
    if json_output:
        echo_json(summary.__dict__)
    else:
        info(
            _(
                "%(rows)d row(s): %(aired)d airing(s) aired, %(missed)d missed.",
                rows=summary.rows,
                aired=summary.aired,
                missed=summary.missed,
            )
        )


@radio_app.command("calibrate")
def calibrate_command(
    lang: Annotated[str, typer.Option("--lang", help="Language code of the read (e.g. mam)")],
    script: Annotated[str, typer.Option("--script", help="Slug of the spot that was read")],
    seconds: Annotated[float, typer.Option("--seconds", help="Measured length of the read, in seconds")],
    by: Annotated[str | None, typer.Option("--by", help="Who measured it")] = None,
    json_output: bool = JSON_OPTION,
) -> None:
    """Record a measured read; later estimates in that language use the rate it implies."""
    from campaign.radio.calibration import calibrate

    with session_scope() as session:
        record = calibrate(session, language=lang, message_slug=script, seconds=seconds, now=utcnow(),
                           recorded_by=by)
        result = {"language": record.language, "script": record.message_slug, "seconds": record.seconds,
                  "syllables": record.syllables, "syllables_per_second": record.syllables_per_second}
    if json_output:
        echo_json(result)
    else:
        measured, rate = f"{seconds:g}", f"{result['syllables_per_second']:.2f}"
        info(
            _(
                "%(lang)s: %(syllables)d syllables in %(seconds)s s -> %(rate)s syllables/s "
                "(used from now on).",
                lang=lang,
                syllables=result["syllables"],
                seconds=measured,
                rate=rate,
            )
        )


@radio_app.command("export")
def export_command(
    campaign: Annotated[str, typer.Argument(help="Campaign slug")],
    fmt: Annotated[str, typer.Option("--format", help="pdf | docx | txt | csv | xlsx")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write into (created)")],
    station: Annotated[str | None, typer.Option("--station", help="Only this station (slug)")] = None,
    lang: Annotated[str | None, typer.Option("--lang", help="Only this language code")] = None,
    page_size: Annotated[str, typer.Option("--page-size", help="a4 | letter (PDF and DOCX)")] = "a4",
    json_output: bool = JSON_OPTION,
) -> None:
    """Export spot scripts (pdf, docx, txt) or the traffic log (csv, xlsx) for producers."""
    from campaign.core.audit import record_audit
    from campaign.radio.exports.service import export_radio

    now = utcnow()
    with session_scope() as session:
        paths = export_radio(session, campaign, fmt=fmt, out_dir=out, station=station, language=lang,
                             page_size=page_size)
        record_audit(session, actor="cli", action="radio_export", now=now,
                     detail={"campaign": campaign, "format": fmt, "station": station, "language": lang})
    if json_output:
        echo_json({"files": [str(p) for p in paths]})
    else:
        for path in paths:
            info(str(path))
