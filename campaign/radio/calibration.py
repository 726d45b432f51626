"""Speaking-rate calibration: producers record measured reads; the latest one sets a language's rate."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from campaign.core.errors import Invalid
from campaign.core.i18n import _
from campaign.core.languages import LanguageRegistry, default_registry
from messages.duration import cue_seconds, rate_from_measurement, spoken_syllables
from messages.library import get_translation
from messages.models import RadioCalibration
from messages.radio import script_parts
from messages.radio_exchange import speaking_rate


def default_variables() -> dict[str, Any]:
    """The deployment's default message variables (hotline numbers, organisation)."""
    from campaign.core.config import get_settings

    return dict(get_settings().hotline_defaults)


def effective_rate(
    session: Session, language: str, *, registry: LanguageRegistry | None = None
) -> float:
    """Syllables per second for `language`: the latest calibration, else the registry default.

    Raises Invalid for a language code the registry does not know and nobody calibrated.
    """
    return speaking_rate(session, language, registry=registry)


def effective_rates(session: Session, languages: list[str]) -> dict[str, float]:
    """`effective_rate` for several languages at once (for exports and planning)."""
    registry = default_registry()
    return {code: effective_rate(session, code, registry=registry) for code in languages}


def calibrate(
    session: Session,
    *,
    language: str,
    message_slug: str,
    seconds: float,
    now: datetime,
    recorded_by: str | None = None,
    variables: Mapping[str, Any] | None = None,
) -> RadioCalibration:
    """Records a measured read of spot `message_slug` in `language` lasting `seconds` (flushed).

    The spoken part of the read is `seconds` minus the script's cue seconds; the rate is its
    syllables over that time. Raises NotFound for an unknown spot or translation, Invalid for a
    duration that leaves no time for speech.
    """
    syllables, rate = implied_rate(session, language=language, message_slug=message_slug, seconds=seconds,
                                   variables=variables)
    record = RadioCalibration(
        language=language,
        message_slug=message_slug,
        seconds=float(seconds),
        syllables=syllables,
        syllables_per_second=rate,
        recorded_by=recorded_by,
        recorded_at=now,
    )
    session.add(record)
    session.flush()
    return record


def implied_rate(
    session: Session,
    *,
    language: str,
    message_slug: str,
    seconds: float,
    variables: Mapping[str, Any] | None = None,
) -> tuple[int, float]:
    """(spoken syllables, syllables per second) of a read of `message_slug` in `language` lasting
    `seconds`, as `calibrate` would record it; stores nothing. Raises like `calibrate`."""
    default_registry().get(language)  # Invalid for an unknown code
    if not seconds or seconds <= 0 or seconds > 600:
        raise Invalid(
            "seconds", _("%(seconds)s is not a measured read length (0 < seconds <= 600)", seconds=seconds)
        )
    translation = get_translation(session, message_slug, language)
    context = default_variables() if variables is None else dict(variables)
    parts = script_parts(translation, context)
    speech = seconds - cue_seconds(parts)
    if speech <= 0:
        raise Invalid(
            "seconds",
            _(
                "%(seconds)g s leaves no time for speech after the cues (%(cues)g s)",
                seconds=seconds,
                cues=cue_seconds(parts),
            ),
        )
    syllables = spoken_syllables(parts, language=language)
    return syllables, round(rate_from_measurement(syllables, speech), 3)
