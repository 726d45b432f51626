"""The Twilio provider against the local Twilio-speaking server: fields sent, errors, lookups, secrets."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from twilio.request_validator import RequestValidator

from campaign.core.errors import ProviderError
from campaign.providers.base import OutboundRequest, UnknownOutcome
from campaign.providers.twilio import TwilioProvider
from tests.fakes.twilio_server import DROP, DROP_AFTER_ACCEPT, HANG, Fail, FakeTwilio, twilio_settings

T0 = datetime(2027, 1, 11, 16, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock) -> Iterator[FakeTwilio]:
    with FakeTwilio(hang_seconds=3.0, clock=clock) as server:
        yield server


@pytest.fixture
def provider(fake) -> TwilioProvider:
    return TwilioProvider(twilio_settings(fake), timeout=2.0)


def test_create_sends_the_fields_twilio_expects(fake, provider):
    callback = "https://x.org/twilio/status?outbound=42"
    result = provider.send(OutboundRequest(42, "+50230000042", "Hola ñandú ¿bien?", callback))
    (message,) = fake.messages
    assert (message["to"], message["body"]) == ("+50230000042", "Hola ñandú ¿bien?")
    assert (message["from"], message["status_callback"]) == ("+15005550006", callback)
    assert (result.sid, result.status, result.to) == (message["sid"], "queued", "+50230000042")
    assert result.date_created == T0
    assert fake.requests[-1][:2] == ("POST", f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json")


@pytest.mark.parametrize(
    ("failure", "code", "retryable"),
    [
        (Fail(400, 21211), "21211", False),
        (Fail(400, 21614), "21614", False),
        (Fail(400, 21610), "21610", False),
        (Fail(429, 20429), "20429", True),
        (Fail(500), "20500", True),
        (Fail(400, 63018), "63018", True),
    ],
)
def test_error_responses_become_provider_errors(fake, provider, failure, code, retryable):
    fake.script(None, failure)
    with pytest.raises(ProviderError) as caught:
        provider.send(OutboundRequest(1, "+50230000001", "x"))
    assert (caught.value.code, caught.value.retryable) == (code, retryable)
    assert not isinstance(caught.value, UnknownOutcome)
    assert fake.messages == []


def test_a_malformed_number_is_refused_by_the_server_as_21211(fake, provider):
    with pytest.raises(ProviderError) as caught:
        provider.send(OutboundRequest(1, "5555", "x"))
    assert caught.value.code == "21211"


@pytest.mark.parametrize(("fault", "accepted"), [(HANG, 1), (DROP_AFTER_ACCEPT, 1), (DROP, 0)])
def test_timeouts_and_dropped_connections_are_unknown_outcomes(fake, provider, fault, accepted):
    fake.script(None, fault)
    with pytest.raises(UnknownOutcome):
        provider.send(OutboundRequest(1, "+50230000001", "x"))
    assert len(fake.messages) == accepted  # the provider may well have it: never retry blindly


def test_no_server_at_all_is_a_retryable_error(fake):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = TwilioProvider(twilio_settings(fake, twilio_api_base=f"http://127.0.0.1:{port}"), timeout=2.0)
    with pytest.raises(ProviderError) as caught:
        provider.send(OutboundRequest(1, "+50230000001", "x"))
    assert caught.value.retryable and not isinstance(caught.value, UnknownOutcome)


def test_wrong_credentials_are_refused(fake):
    provider = TwilioProvider(twilio_settings(fake, twilio_auth_token="not-the-token-at-all"), timeout=2.0)
    with pytest.raises(ProviderError) as caught:
        provider.send(OutboundRequest(1, "+50230000001", "x"))
    assert (caught.value.code, caught.value.retryable) == ("20003", False)


def test_fetch_and_find_for_reconciliation(fake, provider, clock):
    early = provider.send(OutboundRequest(1, "+50230000001", "primero"))
    clock.now = T0 + timedelta(hours=2)
    late = provider.send(OutboundRequest(2, "+50230000001", "segundo"))
    provider.send(OutboundRequest(3, "+50230000002", "otro número"))
    assert provider.fetch(late.sid).body == "segundo"
    found = provider.find("+50230000001", T0 + timedelta(hours=1))
    assert [(r.sid, r.body) for r in found] == [(late.sid, "segundo")]
    assert {r.sid for r in provider.find("+50230000001", T0 - timedelta(minutes=1))} == {early.sid, late.sid}
    with pytest.raises(ProviderError) as caught:
        provider.fetch("SM" + "0" * 32)
    assert caught.value.code == "20404"


def test_find_follows_pages(fake, provider):
    for i in range(120):
        provider.send(OutboundRequest(i, "+50230000009", f"mensaje {i}"))
    assert len(provider.find("+50230000009", T0 - timedelta(seconds=1))) == 120
    assert sum(1 for method, path, _ in fake.requests if method == "GET") == 3  # 50 per page


def test_signature_validation_uses_the_auth_token(fake, provider):
    url = "https://campaign.example.org/twilio/inbound"
    params = {"From": "+50230000001", "Body": "AYUDA", "MessageSid": "SM" + "1" * 32}
    good = RequestValidator(fake.auth_token).compute_signature(url, params)
    assert provider.validate_signature(url, params, good)
    forged = RequestValidator("other-token").compute_signature(url, params)
    assert not provider.validate_signature(url, params, forged)
    assert not provider.validate_signature(url, {**params, "Body": "ALTO"}, good)


def test_the_auth_token_never_reaches_the_logs(fake, provider, caplog):
    caplog.set_level(logging.DEBUG)
    provider.send(OutboundRequest(1, "+50230000001", "x"))
    fake.script(None, Fail(400, 21211))
    with pytest.raises(ProviderError) as caught:
        provider.send(OutboundRequest(2, "+50230000001", "x"))
    assert caplog.records, "the twilio client logged its requests"
    assert fake.auth_token not in caplog.text and fake.auth_token not in str(caught.value)
    assert fake.auth_token not in repr(provider)


def test_arrivals_are_stamped_when_they_reach_the_machine_not_when_handled(fake, provider, monkeypatch):
    """The rate checks (chaos trials, shared rate test) count arrivals per 1 s window: a server
    thread that runs late (its process busy) must not stamp a backlog of requests together."""
    import time

    from tests.fakes import twilio_server

    original = twilio_server._Handler.parse_request

    def late_parse(self):  # the handler thread runs 300 ms after the request arrived
        time.sleep(0.3)
        return original(self)

    monkeypatch.setattr(twilio_server._Handler, "parse_request", late_parse)
    for number in ("+50230000001", "+50230000002"):  # a new connection, then a kept-alive one
        sent = time.monotonic()
        provider.send(OutboundRequest(1, number, "Hola", None))
        message = fake.messages[-1]
        assert message["handled"] - sent >= 0.3
        assert 0 <= message["received"] - sent < 0.1
