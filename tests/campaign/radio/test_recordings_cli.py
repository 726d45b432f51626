"""`campaign radio audio add|list|remove` in a subprocess, as a producer runs it, on SQLite and PostgreSQL.

Every audio file is a SYNTHETIC tone (`write_synthetic_tone`), never a recording of a person.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import av
import pytest
from sqlalchemy import func, select

from campaign.core.audit import AuditEvent
from campaign.core.db import make_sessionmaker
from campaign.radio.audio import write_synthetic_tone
from campaign.radio.calibration import effective_rate
from campaign.radio.models import Recording
from messages.models import Message, RadioCalibration
from tests.factories import RADIO_SCRIPT_ES, RADIO_SCRIPT_MAM, make_radio_spot
from tests.subprocess_cli import run_cli


@pytest.fixture
def spot(engine, tmp_path, monkeypatch):
    """A 30 s spot with Spanish and Mam scripts (synthetic), and CAMPAIGN_MEDIA_DIR in tmp_path."""
    monkeypatch.setenv("CAMPAIGN_MEDIA_DIR", str(tmp_path / "media"))
    with make_sessionmaker(engine).begin() as session:
        make_radio_spot(session, slug="spot-audio", slot_seconds=30,
                        scripts={"es": RADIO_SCRIPT_ES, "mam": RADIO_SCRIPT_MAM})
        session.add(Message(slug="sms-only", topic="trafficking", channels=["sms"], title="SMS sintético"))
    return tmp_path / "media"


def _stored(engine, media: Path) -> tuple:
    """Everything an upload may write: rows of recordings, calibrations and audit; the media files."""
    with make_sessionmaker(engine)() as session:
        rows = tuple(session.execute(select(Recording.id, Recording.language, Recording.sha256)).all())
        counts = tuple(session.scalar(select(func.count()).select_from(model))
                       for model in (RadioCalibration, AuditEvent))
    files = sorted(p.name for p in media.rglob("*") if p.is_file()) if media.exists() else []
    return rows, counts, files


def _decoded_seconds(path: Path) -> tuple[str, int, int, float]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return stream.codec_context.name, stream.codec_context.channels, stream.sample_rate, samples / 48000


def test_add_list_replace_and_remove_a_recording(db_url, engine, spot, tmp_path):
    media = spot
    mp3 = write_synthetic_tone(tmp_path / "synthetic-mam.mp3", seconds=12.0, fmt="mp3")
    added = run_cli("radio", "audio", "add", "spot-audio", str(mp3), "--lang", "mam", "--json", db_url=db_url)
    assert added.returncode == 0, added.stderr
    data = json.loads(added.stdout)
    assert (data["status"], data["spot"], data["language"]) == ("added", "spot-audio", "mam")
    assert data["format"] == "mp3"
    assert data["seconds"] == pytest.approx(12.0, abs=0.05) and data["slot_seconds"] == 30
    assert -20 < data["lufs"] < -12 and data["peak_dbfs"] < 0
    # the measured read calibrated Mam's rate, through the same mechanism as `radio calibrate`
    assert data["calibrated"] is not None
    with make_sessionmaker(engine)() as session:
        assert effective_rate(session, "mam") == pytest.approx(data["calibrated"])
        recording = session.scalars(select(Recording)).one()
        assert recording.calibration_id is not None and recording.uploaded_by == "cli"
    voice = media / data["voice_note"]
    original = media / f"recordings/{data['sha256']}.mp3"
    for path in (original, voice, voice.parent):
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600)
    assert original.read_bytes() == mp3.read_bytes()
    codec, channels, rate, seconds = _decoded_seconds(voice)
    assert (codec, channels, rate) == ("opus", 1, 48000) and seconds == pytest.approx(12.0, abs=0.05)

    before = _stored(engine, media)
    again = run_cli("radio", "audio", "add", "spot-audio", str(mp3), "--lang", "mam", db_url=db_url)
    assert again.returncode == 0 and "nothing changed" in again.stdout
    assert _stored(engine, media) == before  # the same file again is idempotent

    ogg = write_synthetic_tone(tmp_path / "synthetic-mam.ogg", seconds=10.0, fmt="ogg", frequencies=(330.0,))
    replaced = run_cli("radio", "audio", "add", "spot-audio", str(ogg), "--lang", "Mam", "--json",
                       db_url=db_url)
    assert replaced.returncode == 0, replaced.stderr
    new = json.loads(replaced.stdout)
    assert new["status"] == "replaced" and new["id"] == data["id"] and new["format"] == "ogg"
    assert new["voice_note"] == f"recordings/{new['sha256']}.ogg"  # already a voice note: kept as sent
    assert not original.exists() and not voice.exists()  # the replaced files are gone
    es = run_cli("radio", "audio", "add", "spot-audio", str(mp3), "--lang", "es", db_url=db_url)
    assert es.returncode == 0, es.stderr
    assert "spot-audio (es), 12.0 s of 30 s" in es.stdout and "LUFS integrated" in es.stdout
    # 81 syllables in 9 s of speech is no real read: the estimate keeps its rate
    assert "Not used to calibrate: it implies 9.0 syllables/s, not a plausible read" in es.stdout

    listed = run_cli("radio", "audio", "list", "spot-audio", "--json", db_url=db_url)
    languages = [(r["language"], r["format"]) for r in json.loads(listed.stdout)]
    assert languages == [("es", "mp3"), ("mam", "ogg")]
    table = run_cli("radio", "audio", "list", db_url=db_url)
    assert table.returncode == 0 and "10.0 s of 30 s" in table.stdout

    refused = run_cli("radio", "audio", "remove", "spot-audio", "--lang", "mam", db_url=db_url)
    assert refused.returncode != 0 and "nothing was removed" in refused.stderr
    removed = run_cli("radio", "audio", "remove", "spot-audio", "--lang", "mam", "--yes", db_url=db_url)
    assert removed.returncode == 0, removed.stderr
    assert not (media / new["voice_note"]).exists()
    listed = run_cli("radio", "audio", "list", "--json", db_url=db_url)
    assert [r["language"] for r in json.loads(listed.stdout)] == ["es"]
    gone = run_cli("radio", "audio", "remove", "spot-audio", "--lang", "mam", "--yes", db_url=db_url)
    assert gone.returncode != 0 and "spot-audio has no mam recording" in gone.stderr
    with make_sessionmaker(engine)() as session:  # the two Mam reads stay as calibration history
        assert session.scalar(select(func.count()).select_from(RadioCalibration)) == 2


def test_bad_files_are_refused_with_a_clear_error_and_nothing_is_stored(db_url, engine, spot, tmp_path):
    media = spot
    good = write_synthetic_tone(tmp_path / "synthetic-good.wav", seconds=5.0)
    first = run_cli("radio", "audio", "add", "spot-audio", str(good), "--lang", "es", db_url=db_url)
    assert first.returncode == 0, first.stderr
    long = write_synthetic_tone(tmp_path / "synthetic-long.wav", seconds=31.0)
    text = tmp_path / "synthetic-text.mp3"
    text.write_text("synthetic: a text file named like an MP3", encoding="utf-8")
    corrupt = tmp_path / "synthetic-corrupt.ogg"
    corrupt.write_bytes(b"OggS" + bytes(range(256)) * 40)
    other = write_synthetic_tone(tmp_path / "synthetic-other.wav", seconds=4.0, frequencies=(550.0,))
    cases = [
        (("spot-audio", str(long), "--lang", "mam"),
         f"{long}: lasts 31.0 s, longer than the 30 s slot of spot spot-audio (mam)"),
        (("spot-audio", str(text), "--lang", "mam"), "is not an MP3, OGG/Opus, WAV or M4A audio file"),
        (("spot-audio", str(corrupt), "--lang", "mam"), "cannot be decoded as OGG audio"),
        (("spot-nope", str(other), "--lang", "mam"), "spot 'spot-nope' not found"),
        (("sms-only", str(other), "--lang", "es"), "'sms-only' is not a radio spot"),
        (("spot-audio", str(other), "--lang", "klingon"), "unknown language"),
        (("spot-audio", str(tmp_path / "missing.wav"), "--lang", "mam"), "missing.wav: cannot be read"),
    ]
    before = _stored(engine, media)
    for args, expected in cases:
        result = run_cli("radio", "audio", "add", *args, db_url=db_url)
        assert result.returncode != 0, args
        assert expected in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert _stored(engine, media) == before
