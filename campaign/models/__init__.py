"""Campaign-side models: blasts (campaigns, steps, occurrences, outbound), hotline, users, radio."""

from campaign.models.blasts import (
    CAMPAIGN_TRANSITIONS,
    OUTBOUND_TRANSITIONS,
    Campaign,
    CampaignStatus,
    Occurrence,
    OccurrenceStatus,
    Outbound,
    OutboundStatus,
    Step,
)
from campaign.models.hotline import (
    AuditEvent,
    Case,
    CaseNote,
    CasePriority,
    CaseStatus,
    Inbound,
    Intent,
    Role,
    User,
)
from campaign.models.radio import Airing, AiringStatus, Station

__all__ = [
    "CAMPAIGN_TRANSITIONS",
    "OUTBOUND_TRANSITIONS",
    "Airing",
    "AiringStatus",
    "AuditEvent",
    "Campaign",
    "CampaignStatus",
    "Case",
    "CaseNote",
    "CasePriority",
    "CaseStatus",
    "Inbound",
    "Intent",
    "Occurrence",
    "OccurrenceStatus",
    "Outbound",
    "OutboundStatus",
    "Role",
    "Station",
    "Step",
    "User",
]
