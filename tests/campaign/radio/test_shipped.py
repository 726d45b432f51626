"""The shipped content: every radio spot of the pack validates and lints clean of errors, and the demo
campaign's radio plan exports to a PDF that carries every spoken line."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from pypdf import PdfReader
from sqlalchemy import func, select

import campaign
import messages
from campaign.core.config import get_settings
from campaign.radio.airings import plan_campaign_airings
from campaign.radio.exports.service import export_radio
from campaign.radio.models import Airing, Station
from campaign.radio.stations import load_stations
from messages.packs import read_pack
from messages.radio import lint_radio, render_script, validate_script
from messages.rendering import build_context

NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)
PACK = Path(messages.__file__).parent / "packs" / "guatemala"
SAMPLES = Path(campaign.__file__).parent / "samples"


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _radio_specs():
    return [spec for spec in read_pack(PACK).messages.values() if spec.is_radio]


def test_every_shipped_spot_validates_and_has_no_lint_errors():
    specs = _radio_specs()
    assert specs, "the shipped pack has radio spots"
    defaults = get_settings().hotline_defaults
    for spec in specs:
        for translation in spec.translations.values():
            if not translation.script:
                continue
            validate_script(translation.script)
            issues = lint_radio(spec, translation, syllables_per_second=4.4, variables=defaults)
            errors = [i for i in issues if i.level == "error"]
            assert not errors, (spec.slug, translation.language, errors)


def test_demo_campaign_radio_export_carries_every_spoken_line(session, tmp_path):
    from audiences.segments import ensure_builtin_segments
    from campaign.blasts.campaigns import create_from_file
    from messages.packload import load_pack

    load_pack(session, PACK, now=NOW)
    ensure_builtin_segments(session)
    load_stations(session, SAMPLES / "stations.yaml")
    demo, _ = create_from_file(session, SAMPLES / "frontera-segura.yaml", now=NOW)
    planned = plan_campaign_airings(session, demo.slug, now=NOW)
    assert planned == session.scalar(select(func.count()).select_from(Airing)) > 0
    assert session.scalar(select(func.count()).select_from(Station)) >= 2

    pdfs = export_radio(session, demo.slug, fmt="pdf", out_dir=tmp_path)
    stations = {a.station_id for a in session.scalars(select(Airing))}
    assert len(pdfs) == len(stations)  # one pack per station
    [csv_file] = export_radio(session, demo.slug, fmt="csv", out_dir=tmp_path)
    pack = next(p for p in pdfs if p.name.endswith("ejemplo-frontera-ayutla.pdf"))  # es + mam
    text = _squash(" ".join(page.extract_text() for page in PdfReader(pack).pages))
    assert len(csv_file.read_text(encoding="utf-8-sig").splitlines()) == planned + 1
    radio_steps = [s for s in demo.steps if s.channel == "radio"]
    specs = {spec.slug: spec for spec in _radio_specs()}
    position = 0
    for step in radio_steps:
        spec = specs[_slug_of(session, step.message_id)]
        ordered = sorted(spec.translations.items(), key=lambda item: (item[0] != "es", item[0]))
        for language, translation in ordered:
            if translation.status != "approved" or not translation.script:
                continue
            context = build_context(defaults=get_settings().hotline_defaults, campaign=demo.variables,
                                    step=step.variables)
            for part in render_script(translation.script, context):
                if part.is_cue:
                    continue
                found = text.find(_squash(part.text), position)
                assert found >= 0, (spec.slug, language, part.text)
                position = found


def _slug_of(session, message_id: int) -> str:
    from messages.models import Message

    return session.get(Message, message_id).slug
