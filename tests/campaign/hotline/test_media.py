"""Voice notes and images from contacts: the signed webhook stores them, the tick downloads them from
the fake Twilio server with our credentials and keeps them encrypted, staff hear them on the case
page (audited, hotline roles only), retention and erasure remove them. SQLite and PostgreSQL.

The audio is a SYNTHETIC tone (campaign/providers/sandbox_media.py), never anybody's voice; phone
numbers are made up."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import warnings
from datetime import timedelta

import pytest
from sqlalchemy import select

from campaign.blasts.scheduling import tick
from campaign.core.audit import AuditEvent
from campaign.core.db import make_sessionmaker
from campaign.hotline.media_files import media_path
from campaign.hotline.models import Case, CasePriority, Inbound, InboundMedia, MediaStatus, User
from campaign.providers.sandbox_media import synthetic_tone
from campaign.providers.twilio import TwilioProvider
from campaign.web import create_app
from tests.campaign.web.helpers import NOW, inbound_params, post_inbound, sign
from tests.campaign.web.test_app import PASSWORD, csrf_of
from tests.factories import synthetic_phone
from tests.fakes.twilio_server import FakeTwilio, twilio_settings
from tests.subprocess_cli import run_cli

with warnings.catch_warnings():
    from starlette.exceptions import StarletteDeprecationWarning

    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

TONE = synthetic_tone("test voice note")  # synthetic: a sine tone in a WAV file ("RIFF....WAVE")


@pytest.fixture
def fake():
    with FakeTwilio() as server:
        yield server


def media_params(url: str, *, phone: str, body: str = "", content_type: str = "audio/wav") -> dict[str, str]:
    params = inbound_params(body, phone=phone)
    params.update(NumMedia="1", MediaUrl0=url, MediaContentType0=content_type)
    return params


def post_signed(client: TestClient, cfg, params: dict[str, str]):
    url = cfg.public_url + "/twilio/inbound"
    signature = sign(url, params, token=cfg.twilio_auth_token.get_secret_value())
    return client.post("/twilio/inbound", data=params, headers={"X-Twilio-Signature": signature})


def media_rows(engine) -> list[InboundMedia]:
    with make_sessionmaker(engine)() as session:
        rows = list(session.scalars(select(InboundMedia).order_by(InboundMedia.id)))
        session.expunge_all()
        return rows


def receive_media(engine, cfg, url: str, *, phone: str | None = None, **kwargs) -> None:
    """A signed inbound webhook with one media item, through the webhook handler, at NOW."""
    params = media_params(url, phone=phone or synthetic_phone(), **kwargs)
    with make_sessionmaker(engine).begin() as session:
        post_inbound(
            session, params, cfg=cfg, url=cfg.public_url + "/twilio/inbound",
            signature=sign(
                cfg.public_url + "/twilio/inbound", params, cfg.twilio_auth_token.get_secret_value()
            ),
        )


def test_a_signed_voice_note_without_text_opens_a_case_for_a_person_and_fetches_nothing_yet(engine, fake):
    cfg = twilio_settings(fake)
    url = fake.add_media("audio/ogg", TONE)
    phone = synthetic_phone()
    with TestClient(create_app(cfg)) as client:
        answer = post_signed(client, cfg, media_params(url, phone=phone, content_type="audio/ogg"))
        again = post_signed(client, cfg, media_params(url, phone=phone, content_type="audio/ogg") | {
            "MessageSid": "SM" + "e" * 32})
    assert answer.status_code == 200 and "<Message>" not in answer.text  # never auto-answered
    assert again.status_code == 200
    assert fake.media_requests == []  # nothing downloaded inside the webhook
    with make_sessionmaker(engine)() as session:
        inbound = session.scalars(select(Inbound).order_by(Inbound.id)).first()
        assert inbound.body == "" and inbound.intent == "reply" and "media:audio" in inbound.cues
        case = session.get(Case, inbound.case_id)
        assert case.priority == CasePriority.HIGH  # nobody can triage a voice note: a person listens soon
    rows = media_rows(engine)
    assert [(r.status, r.url, r.declared_type, r.position) for r in rows][0] == (
        MediaStatus.PENDING, url, "audio/ogg", 0
    )
    assert len(rows) == 2


def test_stop_with_a_voice_note_still_opts_out_and_reaches_a_person(engine, fake):
    cfg = twilio_settings(fake)
    receive_media(engine, cfg, fake.add_media("audio/ogg", TONE), body="STOP", content_type="audio/ogg")
    with make_sessionmaker(engine)() as session:
        inbound = session.scalar(select(Inbound))
        assert inbound.intent == "opt_out" and inbound.case_id is not None


@pytest.mark.parametrize("fault", ["NumMedia=x", "NumMedia=11", "no MediaUrl0", "control character"])
def test_a_malformed_media_form_is_refused_and_stores_nothing(engine, fake, fault):
    cfg = twilio_settings(fake)
    params = media_params(fake.add_media("audio/ogg", TONE), phone=synthetic_phone())
    if fault == "NumMedia=x":
        params["NumMedia"] = "x"
    elif fault == "NumMedia=11":
        params["NumMedia"] = "11"
    elif fault == "no MediaUrl0":
        del params["MediaUrl0"]
    else:
        params["MediaUrl0"] += "\n"
    with TestClient(create_app(cfg)) as client:
        answer = post_signed(client, cfg, params)
    assert answer.status_code == 400
    assert ("NumMedia" if "NumMedia" in fault else "MediaUrl0") in answer.text
    with make_sessionmaker(engine)() as session:
        assert session.scalar(select(Inbound)) is None
    assert media_rows(engine) == []


def test_the_tick_downloads_with_our_credentials_and_keeps_the_file_encrypted(engine, fake):
    cfg = twilio_settings(fake)
    url = fake.add_media("audio/wav", TONE)
    receive_media(engine, cfg, url)
    result = tick(engine, TwilioProvider(cfg), now=NOW + timedelta(seconds=5), settings=cfg)
    assert result.media.as_dict() == {"fetched": 1, "retrying": 0, "failed": 0}, result.errors
    api_path = url.removeprefix(fake.base_url)
    assert (api_path, True) in fake.media_requests  # our basic auth (the fake answers 401 without it)
    store = [path for path, _auth in fake.media_requests if path.startswith("/_fake/media-store/")]
    assert store and all(not auth for path, auth in fake.media_requests if path in store)  # not to the store
    (row,) = media_rows(engine)
    assert (row.status, row.content_type, row.size, row.attempts) == (
        MediaStatus.FETCHED, "audio/wav", len(TONE), 1
    )
    assert row.sha256 == hashlib.sha256(TONE).hexdigest()
    path = media_path(cfg, row.id)
    sealed = path.read_bytes()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    for plain in (b"RIFF", b"WAVE", b"fmt ", TONE[44:76]):  # no header, no audio samples in clear
        assert plain not in sealed
    again = tick(engine, TwilioProvider(cfg), now=NOW + timedelta(minutes=5), settings=cfg)
    assert again.media.as_dict() == {"fetched": 0, "retrying": 0, "failed": 0}  # downloaded once


def test_wrong_credentials_are_retried_later_and_shown(engine, fake):
    cfg = twilio_settings(fake)
    receive_media(engine, cfg, fake.add_media("audio/wav", TONE))
    wrong = twilio_settings(fake, twilio_auth_token="not-the-token")
    result = tick(engine, TwilioProvider(wrong), now=NOW, settings=wrong)
    assert result.media.as_dict() == {"fetched": 0, "retrying": 1, "failed": 0}
    assert any(status == 401 for _m, _p, status in fake.requests)
    (row,) = media_rows(engine)
    assert row.status == MediaStatus.PENDING and row.error.startswith("401") and row.next_attempt_at > NOW
    soon = tick(engine, TwilioProvider(cfg), now=NOW + timedelta(seconds=30), settings=cfg)
    assert soon.media.as_dict()["fetched"] == 0  # backoff: not before a minute
    later = tick(engine, TwilioProvider(cfg), now=NOW + timedelta(minutes=2), settings=cfg)
    assert later.media.as_dict()["fetched"] == 1


@pytest.mark.parametrize("case", ["other host", "other account", "not a media path", "video", "too large"])
def test_refused_media_are_never_fetched_and_fail_with_their_reason(engine, fake, case):
    cfg = twilio_settings(fake, media_max_bytes=4096)
    expected = {"other host": "url", "other account": "url", "not a media path": "url", "video": "type",
                "too large": "size"}[case]
    kwargs = {}
    with FakeTwilio() as elsewhere:  # same account and token, another host: must never be asked
        url = fake.add_media("audio/wav", TONE[:2000])
        if case == "other host":
            url = elsewhere.add_media("audio/wav", TONE[:2000])
        elif case == "other account":
            url = url.replace(fake.account_sid, "AC" + "1" * 32)
        elif case == "not a media path":
            url = url.rsplit("/Media/", 1)[0] + ".json"
        elif case == "video":
            url, kwargs = fake.add_media("video/mp4", b"\x00" * 100), {"content_type": "video/mp4"}
        else:
            url = fake.add_media("audio/wav", TONE)  # larger than 4096 bytes
        receive_media(engine, cfg, url, **kwargs)
        result = tick(engine, TwilioProvider(cfg), now=NOW, settings=cfg)
        assert elsewhere.requests == [] and elsewhere.media_requests == []
    assert result.media.as_dict() == {"fetched": 0, "retrying": 0, "failed": 1}
    (row,) = media_rows(engine)
    assert row.status == MediaStatus.FAILED and row.error.split(":")[0] == expected
    if case != "too large":
        assert fake.media_requests == []  # refused before any request
    assert not media_path(cfg, row.id).exists()


def _client(app, username: str) -> TestClient:
    client = TestClient(  # https: the session cookie is Secure once the public URL is https
        app, follow_redirects=False, headers={"Accept-Language": "es-GT,es;q=0.9"},
        base_url="https://campaign.example.org",
    )
    token = csrf_of(client.get("/login").text)
    done = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert done.status_code == 303, done.text
    return client


def test_hotline_staff_hear_the_voice_note_audited_and_a_producer_is_refused(engine, fake):
    from campaign.hotline.users import create_user

    cfg = twilio_settings(fake)
    with make_sessionmaker(engine).begin() as session:
        create_user(session, username="ana", password=PASSWORD, role="hotline", now=NOW)
        create_user(session, username="pia", password=PASSWORD, role="producer", now=NOW)
        create_user(session, username="mario", password=PASSWORD, role="manager", now=NOW)
    receive_media(engine, cfg, fake.add_media("audio/wav", TONE))
    receive_media(engine, cfg, fake.add_media("audio/wav", TONE))  # another contact's case
    with make_sessionmaker(engine)() as session:
        first, second = session.scalars(select(Case.id).order_by(Case.id)).all()
        ana_id = session.scalar(select(User.id).where(User.username == "ana"))
    app = create_app(cfg)
    with _client(app, "ana") as ana, _client(app, "pia") as pia:
        page = ana.get(f"/cases/{first}")  # opening the case downloads its pending voice note
        assert page.status_code == 200
        (row, other) = media_rows(engine)
        assert row.status == MediaStatus.FETCHED and other.status == MediaStatus.PENDING
        assert f'<audio controls preload="metadata" src="/cases/{first}/media/{row.id}">' in page.text
        assert "Nota de voz del contacto" in page.text
        heard = ana.get(f"/cases/{first}/media/{row.id}")
        assert heard.status_code == 200 and heard.content == TONE
        assert heard.headers["content-type"] == "audio/wav"
        assert heard.headers["cache-control"] == "no-store"
        assert heard.headers["x-content-type-options"] == "nosniff"
        assert "media-src 'self'" in heard.headers["content-security-policy"]
        assert ana.get(f"/cases/{second}/media/{row.id}").status_code == 404  # not that case's
        refused = pia.get(f"/cases/{first}/media/{row.id}")
        assert refused.status_code == 403 and TONE[:4] not in refused.content
        pending = ana.get(f"/cases/{first}/media/{other.id}")
        assert pending.status_code == 404
    with make_sessionmaker(engine)() as session:
        contact_id = session.get(Case, first).contact_id
    with _client(app, "mario") as mario:  # a manager's contact page plays it from its case
        contact_page = mario.get(f"/contacts/{contact_id}")
        assert contact_page.status_code == 200
        assert f'src="/cases/{first}/media/{row.id}"' in contact_page.text
    with make_sessionmaker(engine)() as session:
        views = session.scalars(select(AuditEvent).where(AuditEvent.action == "media.view")).all()
    assert [(v.actor, v.user_id, v.target_type, v.target_id, v.detail) for v in views] == [  # not pia
        ("ana", ana_id, "inbound_media", row.id, {"case_id": first})
    ]


def _synthetic_amr(seconds: float) -> bytes:
    """A feature phone's kind of voice note: AMR-NB, 8 kHz mono, of a SYNTHETIC tone (nobody's voice)."""
    import io

    import av
    import numpy as np

    out = io.BytesIO()
    with av.open(out, "w", format="amr") as container:
        stream = container.add_stream("libopencore_amrnb", rate=8000, layout="mono")
        stream.codec_context.bit_rate = 12_200
        t = np.arange(int(8000 * seconds)) / 8000
        samples = (0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
        for start in range(0, len(samples), 160):  # AMR's 20 ms frames
            frame = av.AudioFrame.from_ndarray(samples[None, start:start + 160], format="s16", layout="mono")
            frame.rate = 8000
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return out.getvalue()


def test_a_feature_phones_amr_voice_note_plays_in_the_browser_as_ogg_opus(engine, fake):
    """Browsers do not play AMR, what a feature phone's MMS voice note is: staff get it as OGG/Opus,
    converted in memory (the file at rest stays as it came, encrypted), of the same length."""
    import io

    import av

    from campaign.hotline.users import create_user

    amr = _synthetic_amr(3.0)
    assert amr.startswith(b"#!AMR\n")
    cfg = twilio_settings(fake)
    with make_sessionmaker(engine).begin() as session:
        create_user(session, username="ana", password=PASSWORD, role="hotline", now=NOW)
    receive_media(engine, cfg, fake.add_media("audio/amr", amr), content_type="audio/amr")
    with make_sessionmaker(engine)() as session:
        case_id = session.scalars(select(Case.id)).one()
    with _client(create_app(cfg), "ana") as ana:
        assert ana.get(f"/cases/{case_id}").status_code == 200  # downloads the pending note
        (row,) = media_rows(engine)
        assert (row.status, row.content_type) == (MediaStatus.FETCHED, "audio/amr")
        heard = ana.get(f"/cases/{case_id}/media/{row.id}")
    assert heard.status_code == 200 and heard.headers["content-type"] == "audio/ogg"
    with av.open(io.BytesIO(heard.content)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "opus"
        seconds = sum(frame.samples for frame in container.decode(stream)) / 48000
    assert 2.9 <= seconds <= 3.1, seconds
    assert b"OggS" not in media_path(cfg, row.id).read_bytes()  # at rest: the encrypted AMR as it came


def test_purge_and_erase_remove_the_files_and_say_how_many(engine, db_url, fake):
    cfg = twilio_settings(fake)
    kept, erased = synthetic_phone(), synthetic_phone()
    receive_media(engine, cfg, fake.add_media("audio/wav", TONE), phone=kept)
    receive_media(engine, cfg, fake.add_media("audio/wav", TONE), phone=erased)
    assert tick(engine, TwilioProvider(cfg), now=NOW, settings=cfg).media.fetched == 2
    first, second = media_rows(engine)
    assert media_path(cfg, first.id).exists() and media_path(cfg, second.id).exists()
    erase = run_cli("privacy", "erase", erased, "--yes", "--json", db_url=db_url)
    assert erase.returncode == 0, erase.stderr
    assert json.loads(erase.stdout)["media_files"] == 1
    assert not media_path(cfg, second.id).exists() and [r.id for r in media_rows(engine)] == [first.id]
    purge = run_cli("privacy", "purge", db_url=db_url)  # NOW (2025) is older than 180 days
    assert purge.returncode == 0, purge.stderr
    line = next(line for line in purge.stdout.splitlines() if "voice notes and images" in line)
    assert line.rstrip(" │|").split()[-1] == "1"
    (row,) = media_rows(engine)
    assert row.status == MediaStatus.PURGED and row.purged_at is not None
    assert not media_path(cfg, first.id).exists()
    again = run_cli("privacy", "purge", "--json", db_url=db_url)
    assert json.loads(again.stdout)["media_files"] == 0


def test_sandbox_voice_note_from_the_cli_is_downloaded_by_the_tick_and_survives_a_key_rotation(db_url):
    """`campaign inbox voice-note` (sandbox: a synthetic tone) -> `campaign tick` downloads it ->
    `campaign keys rotate` re-encrypts the file -> it decrypts with the new key alone."""
    from campaign.core.config import get_settings
    from campaign.core.crypto import activate, new_key, use_keyring
    from campaign.core.db import make_engine
    from campaign.hotline.media_files import read_media

    phone = synthetic_phone()
    sent = run_cli("inbox", "voice-note", phone, "--json", db_url=db_url)
    assert sent.returncode == 0, sent.stderr
    case_id = json.loads(sent.stdout)["case_id"]
    assert case_id
    ticked = run_cli("tick", "--json", db_url=db_url)
    assert ticked.returncode == 0, ticked.stderr
    assert json.loads(ticked.stdout)["media"] == {"fetched": 1, "retrying": 0, "failed": 0}
    engine = make_engine(db_url)
    (row,) = media_rows(engine)
    cfg = get_settings()
    path = media_path(cfg, row.id)
    before = path.read_bytes()
    assert b"RIFF" not in before and row.content_type == "audio/wav"
    old, fresh = os.environ["CAMPAIGN_DATA_KEY"], new_key()
    rotated = run_cli("keys", "rotate", "--json", db_url=db_url, env={"CAMPAIGN_DATA_KEY": f"{fresh},{old}"})
    assert rotated.returncode == 0, rotated.stderr
    assert json.loads(rotated.stdout)["reencrypted"]["inbound_media"] == 1
    assert path.read_bytes() != before
    use_keyring(None)
    activate(get_settings(data_key=fresh))
    try:
        assert read_media(cfg, row.id)[:4] == b"RIFF"  # the synthetic WAV, under the new key alone
    finally:
        use_keyring(None)
    engine.dispose()


def test_the_case_page_says_why_a_file_is_not_shown(engine, fake):
    from campaign.hotline.users import create_user

    cfg = twilio_settings(fake)
    with make_sessionmaker(engine).begin() as session:
        create_user(session, username="ana", password=PASSWORD, role="hotline", now=NOW)
    receive_media(engine, cfg, fake.add_media("video/mp4", b"\x00" * 64), content_type="video/mp4")
    with make_sessionmaker(engine)() as session:
        case_id = session.scalar(select(Case.id))
    with _client(create_app(cfg), "ana") as ana:
        page = ana.get(f"/cases/{case_id}")
    assert "El contacto envió un archivo de tipo video/mp4: no se descarga ni se muestra." in page.text
    assert "<audio" not in page.text and fake.media_requests == []


def test_a_whatsapp_voice_note_reaches_the_contact_of_the_sms_number(engine, fake):
    """WhatsApp voice notes arrive From "whatsapp:+502..." as audio/ogg: same contact, same case."""
    cfg = twilio_settings(fake)
    phone = synthetic_phone()
    receive_media(engine, cfg, fake.add_media("audio/ogg", TONE), phone=f"whatsapp:{phone}",
                  content_type="audio/ogg")
    result = tick(engine, TwilioProvider(cfg), now=NOW, settings=cfg)
    assert result.media.fetched == 1
    with make_sessionmaker(engine)() as session:
        inbound = session.scalar(select(Inbound))
        assert inbound.case_id is not None and "media:audio" in inbound.cues
        from audiences.models import Contact

        assert session.get(Contact, inbound.contact_id).phone == phone


def test_opening_a_case_while_the_provider_fails_tries_one_file_and_still_opens(engine, fake):
    from campaign.hotline.users import create_user

    cfg = twilio_settings(fake, twilio_auth_token="not-the-token")  # every download: 401
    with make_sessionmaker(engine).begin() as session:
        create_user(session, username="ana", password=PASSWORD, role="hotline", now=NOW)
    phone = synthetic_phone()
    for _ in range(3):
        receive_media(engine, cfg, fake.add_media("audio/wav", TONE), phone=phone)
    with make_sessionmaker(engine)() as session:
        case_id = session.scalar(select(Case.id))
    with _client(create_app(cfg), "ana") as ana:
        page = ana.get(f"/cases/{case_id}")
    assert page.status_code == 200
    assert [r.attempts for r in media_rows(engine)] == [1, 0, 0]  # one try, then the page opened
    assert "el proveedor rechazó nuestras credenciales" in page.text and "se intentará de nuevo" in page.text
