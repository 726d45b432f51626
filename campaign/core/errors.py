"""Structured application errors: one hierarchy, mapped to exit codes and HTTP statuses at the edges."""

from __future__ import annotations

import re


class AppError(Exception):
    """Base class of every error a user can cause or must be told about."""

    exit_code = 1
    http_status = 400
    # How to fix it with the command line's own words (an option such as --consent-source): shown
    # after the message by the `campaign` command only, never on the web, where the form has its field.
    cli_hint: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFound(AppError):
    """A named thing (contact, message, campaign, ...) does not exist."""

    http_status = 404


class Invalid(AppError):
    """Bad input: names the field (or row, file, position) at fault and why.

    `reason` is in the user's language. `code` is the same reason as a stable English key, for
    callers that store or group reasons (import rejections: audiences/reasons.py translates them
    where they are shown); it is `reason` itself unless the raiser gives one.
    """

    http_status = 422

    def __init__(
        self, field: str, reason: str, *, cli_hint: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason
        self.cli_hint = cli_hint
        self.code = code or reason


class InvalidTransition(AppError):
    """A state machine was asked for a move it does not allow."""

    http_status = 409

    def __init__(self, what: str, current: str, target: str, *, hint: str | None = None) -> None:
        """`what` names the thing in the user's words; `hint` says what to do instead ("pause the
        campaign first"). Without a hint the message says which move was refused, translated."""
        from campaign.core.i18n import _

        super().__init__(
            hint
            or _(
                "%(what)s cannot move from %(current)r to %(target)r",
                what=what,
                current=current,
                target=target,
            )
        )
        self.what = what
        self.current = current
        self.target = target


class Forbidden(AppError):
    """The user's role does not allow this action."""

    http_status = 403


class ProviderError(AppError):
    """An SMS provider refused or failed a request.

    `code` is the provider's error code (Twilio's numeric code as a string, or an HTTP status
    such as "429"); `retryable` says whether sending the same request later may succeed.
    """

    http_status = 502

    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        super().__init__(f"provider error {code}: {message}")
        self.code = code
        self.retryable = retryable


_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")
_LONG_NUMBER = re.compile(r"\+?\d[\d ().-]{5,}\d")
_MAX_REASON = 300


def redact_numbers(text: str) -> str:
    """Every long digit run (a phone number, however written) replaced by an ellipsis."""
    return _LONG_NUMBER.sub("…", text)


def safe_reason(exc: BaseException) -> str:
    """One line about a failure that is safe to store, show to staff and log: no contact data.

    Our own errors (`AppError`) speak about the field at fault and keep their words. A database
    error keeps only the database's primary message (never the SQL or its parameters, which can
    hold phone numbers), with quoted values removed; anything else keeps its type and message
    with quoted values removed. Long digit runs (phone numbers) are masked in every case.
    """
    if isinstance(exc, AppError):
        text = exc.message
    else:
        original = getattr(exc, "orig", None)  # SQLAlchemy's DBAPIError wraps the driver's error
        if isinstance(original, BaseException):
            diag = getattr(original, "diag", None)
            primary = getattr(diag, "message_primary", None) or str(original).splitlines()[0:1]
            primary = primary if isinstance(primary, str) else "".join(primary)
            from campaign.core.i18n import _

            text = _(
                "database error (%(kind)s): %(message)s",
                kind=type(original).__name__,
                message=_QUOTED.sub("…", primary),
            )
        else:
            first = str(exc).splitlines()[0] if str(exc) else ""
            text = f"{type(exc).__name__}: {_QUOTED.sub('…', first)}" if first else type(exc).__name__
    text = redact_numbers(" ".join(text.split()))
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 1] + "…"
