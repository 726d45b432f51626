"""SMS providers behind one small protocol (base.py): the embedded sandbox and Twilio."""

from __future__ import annotations

from campaign.core.config import Settings
from campaign.providers.base import OutboundRequest, Provider, ProviderResult, UnknownOutcome

__all__ = ["OutboundRequest", "Provider", "ProviderResult", "UnknownOutcome", "get_provider"]


def get_provider(settings: Settings) -> Provider:
    """The provider named by `settings.provider` (sandbox or twilio).

    Each call builds a new instance; keep it for the life of the process (the sandbox holds its
    simulation in memory, the Twilio client its connection pool). Raises Invalid when the twilio
    provider lacks credentials or a sender.
    """
    if settings.provider == "twilio":
        from campaign.providers.twilio import TwilioProvider

        return TwilioProvider(settings)
    from campaign.providers.sandbox import SandboxProvider

    return SandboxProvider(settings)
