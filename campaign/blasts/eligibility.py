"""Who may receive a blast right now (invariant 2), as SQL: used at planning AND at dispatch.

Consent is separate (`has_consent`): planning selects contacts without it too, so that they are
recorded as skipped `no_consent` and shown in previews and reports.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.orm import InstrumentedAttribute, aliased

from audiences.models import Contact, ContactStatus
from campaign.hotline.models import Case, CaseQuestion, CaseStatus

# A contact id to correlate with: a column expression, or a mapped attribute such as Outbound.contact_id.
ContactIdColumn = ColumnElement[int] | InstrumentedAttribute[int]

OPEN_CASE_STATUSES = (CaseStatus.NEW, CaseStatus.OPEN)


def has_open_case(contact_id_column: ContactIdColumn | None = None) -> ColumnElement[bool]:
    """True for a contact with a hotline case still new or open, or a case (even resolved) whose
    unclear opt-out staff have not confirmed yet (CaseQuestion.OPT_OUT): muted from blasts."""
    column = Contact.id if contact_id_column is None else contact_id_column
    return exists(
        select(Case.id).where(
            Case.contact_id == column,
            or_(Case.status.in_(OPEN_CASE_STATUSES), Case.question == CaseQuestion.OPT_OUT),
        )
    )


def has_consent() -> ColumnElement[bool]:
    """The contact agreed to receive blasts (an import with a consent source, or an opt-in).

    A contact created by an inbound message from an unknown number has none until it opts in.
    """
    return Contact.consent_at.is_not(None)


def blast_eligible(
    contact_id_column: ContactIdColumn | None = None,
) -> ColumnElement[bool]:
    """The contact is active (not opted out, not blocked) and has no open hotline case.

    With `contact_id_column` (e.g. `Outbound.contact_id`) the check correlates to that column,
    so dispatch can re-check rows it is about to send in one statement.
    """
    if contact_id_column is None:
        return and_(Contact.status == ContactStatus.ACTIVE, ~has_open_case())
    # An alias, so the subquery does not correlate to a Contact the enclosing query joins.
    contact = aliased(Contact)
    active = exists(
        select(contact.id).where(
            contact.id == contact_id_column, contact.status == ContactStatus.ACTIVE
        )
    )
    return and_(active, ~has_open_case(contact_id_column))
