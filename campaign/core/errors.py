"""Structured application errors: one hierarchy, mapped to exit codes and HTTP statuses at the edges."""

from __future__ import annotations


class AppError(Exception):
    """Base class of every error a user can cause or must be told about."""

    exit_code = 1
    http_status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFound(AppError):
    """A named thing (contact, message, campaign, ...) does not exist."""

    http_status = 404


class Invalid(AppError):
    """Bad input: names the field (or row, file, position) at fault and why."""

    http_status = 422

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


class InvalidTransition(AppError):
    """A state machine was asked for a move it does not allow."""

    http_status = 409

    def __init__(self, what: str, current: str, target: str) -> None:
        super().__init__(f"{what} cannot move from {current!r} to {target!r}")
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
