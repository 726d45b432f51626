"""Keyword-only factories for test data. All names and numbers are synthetic.

Phone numbers use Guatemala's +502 with 8-digit mobile-looking numbers generated here; they are
made up for tests and belong to nobody we know of.
"""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy.orm import Session

from audiences.models import Contact, ContactStatus

_counter = itertools.count(1)


def synthetic_phone(n: int | None = None) -> str:
    """A synthetic Guatemalan mobile number in E.164 (+502 3xxx xxxx range)."""
    n = next(_counter) if n is None else n
    return f"+5023{n:07d}"[:12]


def make_contact(
    session: Session,
    *,
    phone: str | None = None,
    name: str = "Contacto Sintético",
    language: str | None = "es",
    department: str | None = "GT-12",
    municipality_code: str | None = None,
    birth_year: int | None = 2005,
    sex: str | None = "F",
    household: str | None = None,
    status: ContactStatus = ContactStatus.ACTIVE,
    country: str | None = "GT",
    timezone: str | None = None,
    custom: dict[str, Any] | None = None,
    **extra: Any,
) -> Contact:
    """Adds and flushes one contact."""
    contact = Contact(
        phone=phone or synthetic_phone(),
        name=name,
        language=language,
        department=department,
        municipality_code=municipality_code,
        birth_year=birth_year,
        sex=sex,
        household=household,
        status=status,
        country=country,
        timezone=timezone,
        custom=custom or {},
        **extra,
    )
    session.add(contact)
    session.flush()
    return contact
