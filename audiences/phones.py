"""Phone numbers: normalization to E.164 with phonenumbers, SMS capability, timezone from the number.

`normalize_phone` is the reference (phonenumbers, default region GT). `normalize_many` gives the same
answers for many strings at once, with a fast path for the common Guatemalan shapes (8 digits,
with or without +502 / 00502 / 502) so that a million-row import does not parse every number.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType, ValidationResult

from audiences.reasons import phrase_label
from campaign.core.errors import Invalid

GUATEMALA_TZ = "America/Guatemala"

# Fallback when phonenumbers knows no zone for a number: the country's main zone.
COUNTRY_TIMEZONES: dict[str, str] = {
    "GT": GUATEMALA_TZ,
    "MX": "America/Mexico_City",
    "HN": "America/Tegucigalpa",
    "SV": "America/El_Salvador",
    "BZ": "America/Belize",
    "NI": "America/Managua",
    "CR": "America/Costa_Rica",
    "US": "America/Chicago",
    "CA": "America/Toronto",
}

MOBILE_TYPES = {PhoneNumberType.MOBILE}
MAYBE_MOBILE_TYPES = {PhoneNumberType.FIXED_LINE_OR_MOBILE, PhoneNumberType.UNKNOWN}
TYPE_NAMES = {
    PhoneNumberType.FIXED_LINE: "landline (fixed-line number)",
    PhoneNumberType.TOLL_FREE: "toll-free number",
    PhoneNumberType.PREMIUM_RATE: "premium-rate number",
    PhoneNumberType.SHARED_COST: "shared-cost number",
    PhoneNumberType.VOIP: "VoIP number",
    PhoneNumberType.PERSONAL_NUMBER: "personal number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "UAN number",
    PhoneNumberType.VOICEMAIL: "voicemail number",
}

_STRIP = re.compile(r"[\s.\-()/]+")
_GT_DIGITS = re.compile(r"^(?:\+502|00502|502)?([2-7]\d{7})$")


@dataclass(frozen=True)
class PhoneNumber:
    """A normalized number. `is_mobile` is None when the numbering plan cannot tell (e.g. US);
    `warning` says why an SMS may not arrive (landline, toll-free, ...), or None."""

    e164: str
    country: str
    is_mobile: bool | None
    warning: str | None = None


def _warning_for(is_mobile: bool | None, kind: str) -> str | None:
    if is_mobile is False:
        return f"{kind}: not SMS-capable, messages will probably not arrive"
    return None


def normalize_phone(raw: str, *, default_region: str = "GT") -> PhoneNumber:
    """Parses `raw` (any common way of writing a number) into E.164.

    Raises Invalid("phone", reason) with a short reason: "empty", "not a phone number",
    "too short", "too long", "invalid country code", "not a valid number for <region>".
    """
    text = "" if raw is None else str(raw).strip()
    if not text:
        raise Invalid("phone", "empty")
    candidate = text
    digits_only = _STRIP.sub("", text)
    # "502 5555 1234" without + is common in Guatemalan lists; phonenumbers would read it as
    # an 11-digit national number. Same for 00 international prefixes written without +.
    if digits_only.startswith("00") and digits_only[2:].isdigit():
        candidate = "+" + digits_only[2:]
    elif default_region == "GT" and len(digits_only) == 11 and digits_only[:3] == "502" \
            and digits_only.isdigit():
        candidate = "+" + digits_only
    try:
        number = phonenumbers.parse(candidate, default_region)
    except NumberParseException as exc:
        reason = {
            NumberParseException.INVALID_COUNTRY_CODE: "invalid country code",
            NumberParseException.TOO_SHORT_NSN: "too short",
            NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
            NumberParseException.TOO_LONG: "too long",
        }.get(exc.error_type, "not a phone number")
        raise _refused(reason) from exc
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible == ValidationResult.TOO_SHORT:
        raise _refused("too short")
    if possible == ValidationResult.TOO_LONG:
        raise _refused("too long")
    if possible == ValidationResult.INVALID_LENGTH:
        raise _refused("wrong number of digits")
    if possible == ValidationResult.INVALID_COUNTRY_CODE:
        raise _refused("invalid country code")
    region = phonenumbers.region_code_for_number(number)
    if not phonenumbers.is_valid_number(number):
        raise _refused(f"not a valid number for {region or default_region}")
    kind = phonenumbers.number_type(number)
    if kind in MOBILE_TYPES:
        is_mobile: bool | None = True
    elif kind in MAYBE_MOBILE_TYPES:
        is_mobile = None
    else:
        is_mobile = False
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    warning = _warning_for(is_mobile, TYPE_NAMES.get(kind, ""))
    return PhoneNumber(e164, region or default_region, is_mobile, warning)


def fast_guatemala(raw: str) -> PhoneNumber | None:
    """The answer for the common Guatemalan shapes without phonenumbers, or None to fall back.

    Agrees with `normalize_phone(raw)` whenever it answers (tested property-based): GT numbers
    are 8 digits; 3/4/5 are mobile, 2/6/7 fixed lines.
    """
    match = _GT_DIGITS.match(_STRIP.sub("", raw))
    if match is None:
        return None
    national = match.group(1)
    if national[0] in "345":
        return PhoneNumber("+502" + national, "GT", True, None)
    if national[1] in "01":  # fixed lines are [267][2-9]xxxxxx: let phonenumbers give the reason
        return None
    warning = _warning_for(False, TYPE_NAMES[PhoneNumberType.FIXED_LINE])
    return PhoneNumber("+502" + national, "GT", False, warning)


def _refused(code: str) -> Invalid:
    """A phone number refused: `code` (English) is what an import stores and groups rejections by;
    people read it in their language (audiences/reasons.py)."""
    return Invalid("phone", phrase_label(code), code=code)


def normalize_many(values: Iterable[str], *, default_region: str = "GT") -> dict[str, PhoneNumber | str]:
    """Normalizes each distinct string once: value -> PhoneNumber, or the rejection reason."""
    out: dict[str, PhoneNumber | str] = {}
    fast = default_region == "GT"
    for raw in values:
        if raw in out:
            continue
        result = fast_guatemala(raw) if fast and raw else None
        if result is None:
            try:
                result = normalize_phone(raw, default_region=default_region)
            except Invalid as exc:
                out[raw] = exc.code
                continue
        out[raw] = result
    return out


@lru_cache(maxsize=4096)
def _zone_for_prefix(e164: str) -> str:
    from phonenumbers import timezone as pn_timezone

    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return GUATEMALA_TZ
    zones = [z for z in pn_timezone.time_zones_for_number(number) if z != "Etc/Unknown"]
    if zones:
        return zones[0]
    region = phonenumbers.region_code_for_number(number)
    return COUNTRY_TIMEZONES.get(region or "", GUATEMALA_TZ)


def timezone_for(e164: str) -> str:
    """IANA timezone for a number: Guatemala for +502, else phonenumbers' geography of the
    number (first zone when a country has several), else the country's main zone."""
    if e164.startswith("+502"):
        return GUATEMALA_TZ
    return _zone_for_prefix(e164)


def mask_phone(e164: str | None) -> str:
    """"+50255551234" -> "+502 ****-1234" (country code and last four digits only)."""
    if not e164:
        return ""
    digits = "".join(c for c in e164 if c.isdigit())
    last = digits[-4:]
    try:
        country = str(phonenumbers.parse(e164).country_code)
    except Exception:  # noqa: BLE001 - an odd number still gets masked, with a short prefix
        country = digits[:3]
    return f"+{country} ****-{last}"
