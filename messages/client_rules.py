"""The SMS encoding rules as plain data, for the browser's live counter (campaign/web/static/sms_counter.js).

Built from the very tables messages/encoding.py and messages/rendering.py use (the GSM-7 default
alphabet and extension table of data/gsm7_tables.json, the smart-encoding map of
data/smart_encoding_map.json, the accent folding and the apostrophe normalization), so the
counter in the browser and `campaign messages segments` cannot drift apart: a browser test
compares them on the same texts.
"""

from __future__ import annotations

from typing import Any

from messages import encoding
from messages.rendering import APOSTROPHES


def client_rules() -> dict[str, Any]:
    """Everything the counter needs, JSON-ready: characters as strings, code points as keys."""
    return {
        "gsm_basic": "".join(sorted(encoding.GSM_BASIC)),
        "gsm_extension": "".join(sorted(encoding.GSM_EXTENSION)),
        "smart_map": {str(code): text for code, text in sorted(encoding.SMART_MAP.items())},
        "fold_map": {str(code): text for code, text in sorted(encoding.FOLD_MAP.items())},
        "apostrophes": APOSTROPHES,
        "limits": {
            "gsm_single": encoding.GSM_SINGLE,
            "gsm_multi": encoding.GSM_MULTI,
            "ucs2_single": encoding.UCS2_SINGLE,
            "ucs2_multi": encoding.UCS2_MULTI,
        },
        "policies": list(encoding.POLICIES),
    }
