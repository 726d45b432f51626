"""Recordings over HTTP: the signed, expiring media URL the provider fetches, and the staff's player route.

Audio is a SYNTHETIC tone (`write_synthetic_tone`), never a recording of a person.
"""

from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime, timedelta

import av
import pytest
from starlette.exceptions import StarletteDeprecationWarning  # type: ignore[attr-defined]

from campaign.core.db import make_sessionmaker, utcnow
from campaign.core.media_urls import MediaUrlRefused
from campaign.hotline.users import create_user
from campaign.radio.audio import write_synthetic_tone
from campaign.radio.models import Recording
from campaign.radio.recordings import MAX_BYTES, add_recording
from campaign.web.app import create_app
from campaign.web.media import signed_media_url, verify_media_url
from tests.campaign.web.helpers import count, settings
from tests.factories import RADIO_SCRIPT_ES, RADIO_SCRIPT_MAM, make_radio_spot

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

PASSWORD = "correct horse battery"
PUBLIC = "http://127.0.0.1:8000"


@pytest.fixture
def recorded(engine, tmp_path, monkeypatch):
    """A spot with a Mam recording (synthetic WAV, stored with its voice note); its id."""
    monkeypatch.setenv("CAMPAIGN_MEDIA_DIR", str(tmp_path / "media"))
    wav = write_synthetic_tone(tmp_path / "synthetic.wav", seconds=6.0)
    with make_sessionmaker(engine).begin() as session:
        for name, role in [("pia", "producer"), ("ana", "hotline")]:
            create_user(session, username=name, password=PASSWORD, role=role, now=utcnow())
        make_radio_spot(session, slug="spot-media", scripts={"es": RADIO_SCRIPT_ES, "mam": RADIO_SCRIPT_MAM})
        result = add_recording(session, spot="spot-media", language="mam", source=wav,
                               root=tmp_path / "media", now=utcnow())
        return result.recording.id


@pytest.fixture
def client(recorded):
    with TestClient(create_app(settings()), follow_redirects=False) as client:
        yield client


def login(client, username):
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 303, response.text


def _ogg_seconds(content: bytes, tmp_path) -> float:
    path = tmp_path / "fetched.ogg"
    path.write_bytes(content)
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        assert (stream.codec_context.name, stream.codec_context.channels) == ("opus", 1)
        return sum(frame.samples for frame in container.decode(stream)) / 48000


def test_a_signed_url_serves_the_voice_note_until_it_expires(client, recorded, tmp_path):
    now = datetime.now(UTC)
    url = signed_media_url(PUBLIC, recorded, expires_at=now + timedelta(minutes=10))
    assert url.startswith(f"{PUBLIC}/media/{recorded}/") and url.endswith(".ogg")
    assert verify_media_url(url, now) == recorded  # what the fake Twilio server checks
    response = client.get(url.removeprefix(PUBLIC))  # no login: the provider has none
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/ogg"
    assert _ogg_seconds(response.content, tmp_path) == pytest.approx(6.0, abs=0.03)

    expired = signed_media_url(PUBLIC, recorded, expires_at=now - timedelta(seconds=1))
    assert client.get(expired.removeprefix(PUBLIC)).status_code == 410
    with pytest.raises(MediaUrlRefused) as refused:
        verify_media_url(url, now + timedelta(minutes=11))
    assert refused.value.reason == "expired"


def test_tampered_or_foreign_media_paths_are_refused_and_nothing_else_is_public(client, recorded):
    now = datetime.now(UTC)
    path = signed_media_url(PUBLIC, recorded, expires_at=now + timedelta(minutes=10)).removeprefix(PUBLIC)
    _, _, rid, expires, signature = path.split("/")
    later = str(int(expires) + 3600)
    other_key = signed_media_url(PUBLIC, recorded, expires_at=now + timedelta(minutes=10),
                                 settings=settings(secret_key="another-secret-key-of-some-length"))
    for tampered in (
        f"/media/{int(rid) + 1}/{expires}/{signature}",  # another recording
        f"/media/{rid}/{later}/{signature}",  # a later expiry
        f"/media/{rid}/{expires}/{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}.ogg",
        other_key.removeprefix(PUBLIC),  # signed under another key
    ):
        assert client.get(tampered).status_code == 403, tampered
    for foreign in ("/media/", "/media/1", "/media/../var/campaign.db", "/media/%2e%2e/%2e%2e/etc/passwd",
                    f"/media/{rid}/{expires}/{signature}.ogg/../../campaign.keys",
                    "/media/recordings/x.ogg"):
        assert client.get(foreign).status_code in (403, 404), foreign
    # the staff's player route needs a login with a radio role
    assert client.get(f"/radio/recordings/{recorded}/audio").status_code in (303, 401)
    login(client, "ana")
    assert client.get(f"/radio/recordings/{recorded}/audio").status_code == 403


def test_a_removed_recording_is_gone_even_at_a_valid_url(client, engine, recorded):
    url = signed_media_url(PUBLIC, recorded, expires_at=datetime.now(UTC) + timedelta(minutes=5))
    login(client, "pia")
    player = client.get(f"/radio/recordings/{recorded}/audio")
    assert player.status_code == 200 and player.headers["content-type"] == "audio/ogg"
    page = client.get("/radio")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    assert "6.0 s of 30 s" in page.text and "LUFS" in page.text
    removed = client.post(f"/radio/recordings/{recorded}/remove", data={"csrf_token": token})
    assert removed.status_code == 303
    assert client.get(url.removeprefix(PUBLIC)).status_code == 404
    with make_sessionmaker(engine)() as session:
        assert count(session, Recording) == 0


def test_a_bad_upload_on_the_page_is_named_and_stores_nothing(client, engine, tmp_path):
    login(client, "pia")
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/radio").text).group(1)
    long = write_synthetic_tone(tmp_path / "synthetic-long.wav", seconds=32.0)
    with long.open("rb") as handle:
        form = {"csrf_token": token, "spot": "spot-media", "lang": "es"}
        response = client.post("/radio/recordings", data=form,
                               files={"file": ("largo.wav", handle, "audio/wav")})
    assert response.status_code == 422, response.text[-3000:]
    assert "largo.wav: lasts 32.0 s, longer than the 30 s slot of spot spot-media (es)" in response.text
    response = client.post("/radio/recordings", data=form,
                           files={"file": ("texto.mp3", b"synthetic text, not audio", "audio/mpeg")})
    assert response.status_code == 422 and "texto.mp3: is not an MP3, OGG/Opus, WAV or M4A" in response.text
    nul = client.post("/radio/recordings", data={**form, "spot": "spot\x00media"},
                      files={"file": ("synthetic.wav", b"RIFF", "audio/wav")})
    assert nul.status_code == 422
    # over the 16 MB a voice note may have: refused by its size, before the form is read or spooled
    oversized = b"\0" * (MAX_BYTES + 128 * 1024)
    huge = client.post("/radio/recordings", data=form, headers={"Accept-Language": "es"},
                       files={"file": ("enorme.wav", oversized, "audio/wav")})
    assert huge.status_code == 413
    assert "Lo enviado es demasiado grande para esta dirección (como máximo 16 MB)." in huge.text
    with make_sessionmaker(engine)() as session:
        assert count(session, Recording) == 1  # the fixture's Mam recording only
