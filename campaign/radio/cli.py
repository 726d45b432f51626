"""`campaign radio ...`: stations, airing plan and schedule, the producers' log, calibration, exports,
recordings (`campaign radio audio add|list|remove`)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from campaign.core.console import JSON_OPTION, echo_json, info, print_table, session_scope
from campaign.core.db import utcnow
from campaign.core.i18n import _

radio_app = typer.Typer(no_args_is_help=True, help="Radio: stations, airings, log, calibration, exports.")
stations_app = typer.Typer(no_args_is_help=True, help="Radio stations.")
radio_app.add_typer(stations_app, name="stations")
audio_app = typer.Typer(no_args_is_help=True,
                        help="Recordings of spots per language (MP3, OGG/Opus, WAV, M4A).")
radio_app.add_typer(audio_app, name="audio")


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


@audio_app.command("add")
def audio_add(
    spot: Annotated[str, typer.Argument(help="Slug of the radio spot (e.g. spot-coyotes)")],
    file: Annotated[Path, typer.Argument(help="The recording: MP3, OGG/Opus, WAV or M4A")],
    lang: Annotated[str, typer.Option("--lang", help="Language of the recording (e.g. mam)")],
    by: Annotated[str | None, typer.Option("--by", help="Who recorded or uploaded it")] = None,
    json_output: bool = JSON_OPTION,
) -> None:
    """Check a recording (format, length within the spot's slot, loudness), store it with its OGG/Opus
    voice note, and calibrate the language's read time. Replaces the spot's recording in that language."""
    from campaign.core.audit import record_audit
    from campaign.core.config import get_settings
    from campaign.radio.recordings import add_recording, recording_dict, remove_unreferenced

    root = get_settings().media_dir
    with session_scope() as session:
        result = add_recording(session, spot=spot, language=lang, source=file, root=root, now=utcnow(),
                               uploaded_by=by or "cli", name=str(file))
        data = recording_dict(result.recording, result.recording_spot(session))
        data.update(status=result.status, calibrated=result.calibrated, not_calibrated=result.not_calibrated)
        if result.status != "unchanged":
            record_audit(session, actor="cli", action="recording_" + result.status, now=utcnow(),
                         detail={"spot": spot, "language": data["language"], "sha256": data["sha256"]})
    if result.stale:
        with session_scope() as session:
            remove_unreferenced(session, root, result.stale)
    if json_output:
        echo_json(data)
        return
    _print_added(data)


def _print_added(data: dict[str, Any]) -> None:
    from campaign.radio.recordings import loudness_words

    words = {
        "added": _("Recording stored"),
        "replaced": _("Recording replaced"),
        "unchanged": _("Same recording already stored, nothing changed"),
    }
    seconds, loudness = f"{data['seconds']:.1f}", loudness_words(data)
    info(
        _(
            "%(what)s: %(spot)s (%(lang)s), %(seconds)s s of %(slot)d s, %(loudness)s.",
            what=words[data["status"]],
            spot=data["spot"],
            lang=data["language"],
            seconds=seconds,
            slot=data["slot_seconds"],
            loudness=loudness,
        )
    )
    if data["status"] == "unchanged":
        return
    if data["calibrated"] is not None:
        rate = f"{data['calibrated']:.2f}"
        info(_("%(lang)s read time calibrated: %(rate)s syllables/s (used from now on).",
               lang=data["language"], rate=rate))
    else:
        info(_("Not used to calibrate: %(reason)s.", reason=data["not_calibrated"]))


@audio_app.command("list")
def audio_list(
    spot: Annotated[str | None, typer.Argument(help="Only this spot (slug)")] = None,
    json_output: bool = JSON_OPTION,
) -> None:
    """List the recordings: spot, language, length against the slot, loudness, format."""
    from campaign.radio.recordings import length_words, list_recordings, loudness_words, recording_dict

    with session_scope() as session:
        rows = [recording_dict(r, m) for r, m in list_recordings(session, spot)]
    if json_output:
        echo_json(rows)
        return
    print_table(
        [_("spot"), _("lang"), _("length"), _("loudness"), _("format"), _("uploaded by"), _("date")],
        [
            [r["spot"], r["language"], length_words(r), loudness_words(r), r["format"].upper(),
             r["uploaded_by"] or "-", (r["created_at"] or "")[:10]]
            for r in rows
        ],
        title=_("Recordings"),
    )


@audio_app.command("remove")
def audio_remove(
    spot: Annotated[str, typer.Argument(help="Slug of the radio spot")],
    lang: Annotated[str, typer.Option("--lang", help="Language of the recording to remove")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Remove without asking (scripts)")] = False,
    json_output: bool = JSON_OPTION,
) -> None:
    """Remove a spot's recording in one language (its files too; the calibration it made stays)."""
    import sys

    from campaign.core.audit import record_audit
    from campaign.core.config import get_settings
    from campaign.core.console import ask_yes_no
    from campaign.core.errors import Invalid
    from campaign.radio.recordings import remove_recording, remove_unreferenced

    if not yes:
        question = _("Remove the %(lang)s recording of %(spot)s?", lang=lang, spot=spot)
        if not sys.stdin.isatty() or not ask_yes_no(question):
            raise Invalid("--yes", _("nothing was removed (answer yes in a terminal, or pass --yes)"))
    root = get_settings().media_dir
    with session_scope() as session:
        paths = remove_recording(session, spot=spot, language=lang)
        record_audit(session, actor="cli", action="recording_removed", now=utcnow(),
                     detail={"spot": spot, "language": lang})
    with session_scope() as session:
        removed = remove_unreferenced(session, root, paths)
    if json_output:
        echo_json({"spot": spot, "language": lang, "removed": True, "files_deleted": removed})
    else:
        info(_("Recording of %(spot)s (%(lang)s) removed.", spot=spot, lang=lang))


@audio_app.command("synthetic-tone")
def audio_synthetic_tone(
    file: Annotated[Path, typer.Argument(help="File to write: .wav, .mp3, .m4a or .ogg (Opus)")],
    seconds: Annotated[float, typer.Option("--seconds", help="Length in seconds (0.1 to 600)")] = 20.0,
) -> None:
    """Write a SYNTHETIC test tone (sine tones, no voice): to try uploads without a real recording."""
    from campaign.core.errors import Invalid
    from campaign.radio.audio import SYNTHETIC, write_synthetic_tone

    fmt = file.suffix.lower().lstrip(".")
    if fmt not in SYNTHETIC:
        raise Invalid("FILE", _("use a .wav, .mp3, .m4a or .ogg file name, not %(name)r", name=file.name))
    if not 0.1 <= seconds <= 600:
        raise Invalid("--seconds", _("between 0.1 and 600 seconds"))
    write_synthetic_tone(file, seconds=seconds, fmt=fmt)
    length = f"{seconds:g}"
    info(_("Synthetic tone of %(seconds)s s written to %(path)s.", seconds=length, path=str(file)))
