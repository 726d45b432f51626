"""No phone number in any log line: log records are redacted as they are made.

`install_redaction()` (called by the CLI entry point and the web app factory) wraps the log
record factory: the message is formatted, long digit runs (phone numbers) are masked
(errors.redact_numbers), and a traceback is formatted and masked the same way. Names and message
bodies cannot be recognised by a pattern, so the code never logs them: SQL parameters are hidden
by the engine (`hide_parameters`, campaign/core/db.py) and failures are logged with
errors.safe_reason.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from campaign.core.errors import redact_numbers

_installed = False


def install_redaction() -> None:
    """Makes every log record of the process redacted (idempotent)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is logged as its raw text
            message = str(record.msg)
        record.msg, record.args = redact_numbers(message), None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact_numbers("".join(traceback.format_exception(*record.exc_info)).rstrip())
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
