"""The sandbox's inbound media: a SYNTHETIC voice note (a short sine tone, WAV) and its fake URL.

No network: the sandbox's media URLs have Twilio's shape under an address that is never requested
(`SANDBOX_API`, a reserved .invalid name), and `SandboxProvider.fetch_media` answers them with a
tone computed from the media SID, the same in every process. The tone is synthetic test data, not
anybody's voice.
"""

from __future__ import annotations

import hashlib
import io
import math
import struct
import wave

SANDBOX_API = "https://api.sandbox.invalid"
VOICE_NOTE_TYPE = "audio/wav"
RATE = 8000


def media_url(account_sid: str, message_sid: str, media_sid: str) -> str:
    """A Twilio-shaped media URL of the sandbox (never requested over the network)."""
    return f"{SANDBOX_API}/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}/Media/{media_sid}"


def synthetic_tone(seed: str, *, seconds: float = 1.5) -> bytes:
    """A mono 8 kHz 16-bit WAV of a sine tone between 300 and 700 Hz chosen by `seed` (synthetic)."""
    pitch = 300 + int(hashlib.sha256(seed.encode()).hexdigest()[:4], 16) % 400
    frames = int(RATE * seconds)
    samples = (
        int(12000 * math.sin(2 * math.pi * pitch * i / RATE) * min(1.0, i / 400, (frames - i) / 400))
        for i in range(frames)
    )
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return buffer.getvalue()
