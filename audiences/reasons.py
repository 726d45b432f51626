"""Import rejection reasons as people read them, in the current language (web and CLI).

The importer (audiences/cleaning.py, audiences/phones.py) writes stable English reasons such as
"phone: too short": the CLI's JSON, the report file and the stored ImportRejection rows keep them
as keys. People see each one translated: the field before the colon and the known phrase after
it; a reason it does not know (a custom field's, already translated) is shown as written.
"""

from __future__ import annotations

import re

from campaign.core.i18n import N_, LazyString, _

FIELDS: dict[str, LazyString] = {
    "phone": N_("phone"),
    "row": N_("row"),
    "language": N_("language"),
    "department": N_("department"),
    "municipality": N_("municipality"),
    "sex": N_("sex"),
    "timezone": N_("timezone"),
    "consent": N_("consent"),
    "birth_year": N_("birth year"),
    "age": N_("age"),
    "household": N_("household"),
}
PHRASES: dict[str, LazyString] = {
    "empty": N_("empty"),
    "too short": N_("too short"),
    "too long": N_("too long"),
    "wrong number of digits": N_("wrong number of digits"),
    "invalid country code": N_("invalid country code"),
    "not a phone number": N_("not a phone number"),
    "wrong number of columns": N_("wrong number of columns"),
    "unknown language": N_("unknown language"),
    "unknown department": N_("unknown department"),
    "unknown municipality": N_("unknown municipality"),
    "unknown value (use F, M or X)": N_("unknown value (use F, M or X)"),
    "unknown IANA timezone": N_("unknown IANA timezone"),
    "not a whole number between 0 and 120": N_("not a whole number between 0 and 120"),
    "empty (say where this person agreed to receive messages, or give --consent-source)": N_(
        "empty (say where this person agreed to receive messages, or give a source for the whole file)"
    ),
}
VALID_FOR = re.compile(r"^not a valid number for (\w+)$")
# A municipality's rejection codes (audiences/geography.py), with the value as the file wrote it.
UNKNOWN_MUNICIPALITY = re.compile(r"^unknown municipality (.+)$")
UNKNOWN_INE = re.compile(r"^unknown INE code (.+)$")
NOT_IN_DEPARTMENT = re.compile(r"^(.+) is not a municipality of (.+)$")
AMBIGUOUS = re.compile(r"^(.+) is ambiguous \(in (.+)\): give the department$")
YEAR_BETWEEN = re.compile(r"^not a year between (\d+) and (\d+)$")
LANDLINE = re.compile(r"^landline \(fixed-line number\): not SMS-capable")


def reason_label(reason: str) -> str:
    """`reason` ("field: phrase") in the request's language; unknown parts as written."""
    field, sep, phrase = reason.partition(": ")
    if not sep or field not in FIELDS:
        return reason
    return f"{FIELDS[field]}: {phrase_label(phrase)}"


def phrase_label(phrase: str) -> str:
    """One reason's phrase (the part after "field: ", an English code) in the current language;
    a phrase it does not know as written."""
    if phrase in PHRASES:
        return str(PHRASES[phrase])
    if match := VALID_FOR.match(phrase):
        return _("not a valid number for %(region)s", region=match.group(1))
    if match := YEAR_BETWEEN.match(phrase):
        return _("not a year between %(low)s and %(high)s", low=match.group(1), high=match.group(2))
    if LANDLINE.match(phrase):
        return _("landline: it cannot receive SMS, messages will probably not arrive")
    if match := UNKNOWN_MUNICIPALITY.match(phrase):
        return _("unknown municipality %(value)s", value=match.group(1))
    if match := UNKNOWN_INE.match(phrase):
        return _("unknown INE code %(value)s", value=match.group(1))
    if match := AMBIGUOUS.match(phrase):
        return _(
            "%(value)s is ambiguous (in %(where)s): give the department",
            value=match.group(1), where=match.group(2),
        )
    if match := NOT_IN_DEPARTMENT.match(phrase):
        return _("%(value)s is not a municipality of %(department)s", value=match.group(1),
                 department=match.group(2))
    return phrase
