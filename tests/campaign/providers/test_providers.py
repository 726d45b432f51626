"""Provider plumbing: get_provider, the sandbox's determinism and signatures, backoff."""

from __future__ import annotations

import re

import pytest
from twilio.request_validator import RequestValidator

from campaign.blasts.models import OutboundStatus
from campaign.blasts.ratelimit import backoff_seconds, jitter_for
from campaign.core.config import get_settings
from campaign.core.errors import Invalid, ProviderError
from campaign.providers import get_provider
from campaign.providers.base import OutboundRequest, Provider, is_retryable, map_twilio_status
from campaign.providers.sandbox import SandboxProvider
from campaign.providers.twilio import TwilioProvider


def _requests(n: int) -> list[OutboundRequest]:
    return [OutboundRequest(i, f"+5023{i:07d}", f"mensaje {i}", None) for i in range(1, n + 1)]


def test_get_provider_picks_by_setting_and_both_satisfy_the_protocol():
    sandbox = get_provider(get_settings())
    assert isinstance(sandbox, SandboxProvider) and isinstance(sandbox, Provider)
    twilio = get_provider(get_settings(
        provider="twilio", twilio_account_sid="AC" + "1" * 32, twilio_auth_token="t0k3n-secret-value-9876",
        twilio_from="+15005550006",
    ))
    assert isinstance(twilio, TwilioProvider) and isinstance(twilio, Provider)
    assert "secret" not in repr(twilio) and repr(twilio).endswith("token=********9876>")


def test_twilio_provider_refuses_to_start_without_credentials():
    with pytest.raises(Invalid, match="CAMPAIGN_TWILIO_ACCOUNT_SID"):
        get_provider(get_settings(provider="twilio"))


@pytest.mark.parametrize(
    ("raw", "status"),
    [("queued", OutboundStatus.SENT), ("accepted", OutboundStatus.SENT), ("sent", OutboundStatus.SENT),
     ("delivered", OutboundStatus.DELIVERED), ("read", OutboundStatus.DELIVERED),
     ("undelivered", OutboundStatus.UNDELIVERED), ("failed", OutboundStatus.FAILED),
     ("FAILED", OutboundStatus.FAILED), ("received", None), ("", None)],
)
def test_twilio_status_mapping(raw, status):
    assert map_twilio_status(raw) == status


@pytest.mark.parametrize(
    ("code", "http", "retry"),
    [("20429", 429, True), ("63018", 400, True), ("20500", 500, True), (None, 503, True),
     ("21211", 400, False), ("21614", 400, False), ("21610", 400, False), ("20003", 401, False)],
)
def test_which_errors_are_transient(code, http, retry):
    assert is_retryable(code, http) is retry


def test_sandbox_sids_are_deterministic_per_seed_whatever_the_order():
    first, second, other = (SandboxProvider(get_settings(sandbox_seed=s)) for s in (7, 7, 8))
    a = {r.outbound_id: first.send(r).sid for r in _requests(20)}
    b = {r.outbound_id: second.send(r).sid for r in reversed(_requests(20))}
    c = {r.outbound_id: other.send(r).sid for r in _requests(20)}
    assert a == b and a != c
    assert all(re.fullmatch(r"SM[0-9a-f]{32}", sid) for sid in a.values())
    assert len(set(a.values())) == 20
    assert [m.outbound_id for m in first.sent] == list(range(1, 21))


def test_sandbox_fetch_find_and_invalid_numbers():
    sandbox = SandboxProvider(get_settings())
    result = sandbox.send(OutboundRequest(1, "+50230000001", "hola", None))
    assert sandbox.fetch(result.sid).status == "queued"
    from datetime import UTC, datetime

    assert [r.sid for r in sandbox.find("+50230000001", datetime(2027, 1, 1, tzinfo=UTC))] == [result.sid]
    assert sandbox.find("+50230000002", datetime(2027, 1, 1, tzinfo=UTC)) == []
    with pytest.raises(ProviderError) as refused:
        sandbox.send(OutboundRequest(2, "50230000002", "sin prefijo", None))
    assert refused.value.code == "21211" and not refused.value.retryable
    with pytest.raises(ProviderError):
        sandbox.fetch("SM" + "0" * 32)


def test_sandbox_signs_like_twilio():
    settings = get_settings(sandbox_auth_token="clave-de-prueba-123")
    sandbox = SandboxProvider(settings)
    url = "https://campaign.example.org/twilio/status?outbound=5"
    params = {"MessageSid": "SMx", "MessageStatus": "sent"}
    signature = sandbox.sign(url, params)
    assert signature == RequestValidator("clave-de-prueba-123").compute_signature(url, params)
    assert sandbox.validate_signature(url, params, signature)
    assert not sandbox.validate_signature(url, {**params, "MessageStatus": "delivered"}, signature)
    assert not sandbox.validate_signature(url, params, "")


def test_sandbox_simulation_shares_are_plausible():
    sandbox = SandboxProvider(get_settings(sandbox_seed=3))
    for request in _requests(2000):
        sandbox.send(request)
    events = sandbox._events
    statuses = [e.params for e in events if e.kind == "status"]
    finals = [p["MessageStatus"] for p in statuses if p["MessageStatus"] != "sent"]
    replies = [e for e in events if e.kind == "inbound"]
    assert len(finals) == 2000
    assert 0.9 < finals.count("delivered") / 2000 < 0.97
    assert all(p.get("ErrorCode") for p in statuses if p["MessageStatus"] in {"undelivered", "failed"})
    assert 0.05 < len(replies) / 2000 < 0.15
    assert {e.reply.split(":")[0] for e in replies} == {"opt_out", "help", "text", "urgent"}


def test_backoff_grows_exponentially_with_bounded_jitter():
    assert [backoff_seconds(a, rand=0.0) for a in (1, 2, 3)] == [15.0, 30.0, 60.0]
    assert backoff_seconds(2, rand=0.999) < 60.0
    assert backoff_seconds(30, rand=0.999) <= 3600.0
    assert jitter_for(5, 1) == jitter_for(5, 1) != jitter_for(6, 1)
