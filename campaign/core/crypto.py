"""Personal data at rest: authenticated encryption of fields and a keyed blind index of phones.

Phone numbers, names, message bodies, case notes and the raw values of import rejection reports
are stored as `<key id>$<base64(nonce | AES-256-GCM ciphertext and tag)>` (columns typed
`Encrypted` / `EncryptedText`; hot paths that bypass bind processing call `encrypt` themselves).
An empty string is stored as an empty string, so that retention can find purged bodies in SQL.
A phone number is found and kept unique by its blind index: HMAC-SHA256 of the normalized E.164
number under a second key (`blind_index`), never by its ciphertext.

Nonces (96 bits) are unique per key without a system call per value: each process draws a random
64-bit prefix and counts the last 32 bits; it draws a new prefix when the counter is spent and in
a forked child (uvicorn workers), so two processes never share one. A repeat needs two of the
prefixes drawn under a key to collide (about n^2 / 2^65 for n prefixes): below the 2^-32 bound NIST
SP 800-38D sets for random nonces. The stored form does not say how a nonce was made, so values
written with fully random nonces before read the same.

Keys (32 random bytes, URL-safe base64):
- `CAMPAIGN_DATA_KEY` (a comma-separated list: the first encrypts, the others still decrypt, for a
  rotation under way) and `CAMPAIGN_INDEX_KEY`, from the environment; or
- for the embedded SQLite default only, a key file (`CAMPAIGN_KEY_FILE`, ./var/campaign.keys)
  created by `campaign init` with mode 0600.
The index key is never rotated: erased numbers are known only by their index entry.

Leaf module: imports only campaign.core. The active keyring is process-wide; edges call
`activate(settings)` before touching the database, and the types look it up per value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import String, Text, type_coerce
from sqlalchemy.sql import operators
from sqlalchemy.types import TypeDecorator

from campaign.core.errors import AppError, Invalid
from campaign.core.i18n import _

if TYPE_CHECKING:
    from campaign.core.config import Settings

KEY_BYTES = 32
NONCE_BYTES = 12
NONCE_PREFIX_BYTES = 8  # random per process; the other 4 bytes count
NONCE_COUNT = 2 ** (8 * (NONCE_BYTES - NONCE_PREFIX_BYTES))
SEPARATOR = "$"
SOURCE_ENV = "environment"
SOURCE_FILE = "key file"


class UnreadableData(AppError):
    """Data that cannot be decrypted: a missing key, or a value altered in the database."""


def new_key() -> str:
    """A fresh random key in the form CAMPAIGN_DATA_KEY and CAMPAIGN_INDEX_KEY take."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode()


def _decode_key(text: str, name: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode())
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        reason = f"a key is {KEY_BYTES} random bytes in URL-safe base64 (`campaign keys new` makes one)"
        raise Invalid(name, reason)
    return raw


def key_id(key: bytes) -> str:
    """A short public name of a data key, written before each ciphertext (8 hex digits)."""
    return hashlib.sha256(b"campaign-key-id" + key).hexdigest()[:8]


class _Nonces:
    """Unique 96-bit nonces: a random 64-bit prefix and a 32-bit counter (see the module docstring).
    Thread-safe: the prefix and its counter are one attribute, read at once; `next()` on an
    itertools.count is atomic; a spent counter is replaced under a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._renew()
        os.register_at_fork(after_in_child=self._after_fork)

    def _renew(self) -> None:
        self._state = (os.urandom(NONCE_PREFIX_BYTES), itertools.count())

    def _after_fork(self) -> None:
        self._lock = threading.Lock()  # a lock held by another thread at fork time would stay held
        self._renew()

    def next(self) -> bytes:
        state = self._state
        number = next(state[1])
        if number >= NONCE_COUNT:
            with self._lock:
                if self._state is state:
                    self._renew()
            return self.next()
        return state[0] + number.to_bytes(NONCE_BYTES - NONCE_PREFIX_BYTES, "big")


_NONCES = _Nonces()  # one source for every key of the process: unique per key a fortiori


def _hmac_pads(key: bytes) -> tuple[Any, Any]:
    """SHA-256 states keyed with the inner and outer pads of HMAC (RFC 2104): copying them is half the
    cost of copying an `hmac` object, and gives the same MAC (tests compare with `hmac`)."""
    block = hashlib.sha256().block_size
    padded = (hashlib.sha256(key).digest() if len(key) > block else key).ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))
    return inner, outer


@dataclass
class Keyring:
    """The data keys (first = current) and the index key, with where they came from."""

    data_keys: list[bytes]
    index_key: bytes
    source: str
    path: Path | None = None
    _ciphers: dict[str, AESGCM] = field(default_factory=dict, repr=False)
    _index: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._ciphers = {key_id(k): AESGCM(k) for k in self.data_keys}
        self.current_id = key_id(self.data_keys[0])
        self._current = self._ciphers[self.current_id]
        self._prefix = self.current_id + SEPARATOR
        self._index = _hmac_pads(self.index_key)

    def encrypt(self, text: str) -> str:
        if not text:
            return text
        nonce = _NONCES.next()
        sealed = self._current.encrypt(nonce, text.encode(), None)
        return self._prefix + binascii.b2a_base64(nonce + sealed, newline=False).decode()

    def encrypt_many(self, texts: Iterable[str | None]) -> list[str | None]:
        """`encrypt` over many values (None stays None): the bulk paths (imports, planning)."""
        seal, nonce, prefix, b64 = self._current.encrypt, _NONCES.next, self._prefix, binascii.b2a_base64
        return [
            prefix + b64((n := nonce()) + seal(n, text.encode(), None), newline=False).decode()
            if text
            else text
            for text in texts
        ]

    def decrypt(self, token: str) -> str:
        if not token:
            return token
        kid, sep, payload = token.partition(SEPARATOR)
        cipher = self._ciphers.get(kid)
        if not sep or cipher is None:
            raise UnreadableData(
                _("a value was encrypted with key %(key)r, which is not configured", key=kid[:8])
                if sep
                else _("a value in the database is not encrypted (run `campaign init` to migrate)")
            )
        raw = base64.b64decode(payload)
        try:
            return cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], None).decode()
        except InvalidTag:
            reason = "a value in the database does not authenticate (altered, or the wrong key)"
            raise UnreadableData(reason) from None

    def encrypt_bytes(self, data: bytes, *, context: bytes) -> bytes:
        """`data` sealed as `<key id>$` + nonce + AES-256-GCM(data), bound to `context` (associated
        data: a file moved under another record's name does not decrypt). For files (media)."""
        nonce = os.urandom(NONCE_BYTES)
        return self._prefix.encode() + nonce + self._current.encrypt(nonce, data, context)

    def decrypt_bytes(self, blob: bytes, *, context: bytes) -> bytes:
        """The bytes `encrypt_bytes` sealed with the same `context`; UnreadableData otherwise."""
        width = len(self.current_id)
        kid, sep, rest = blob[:width].decode("ascii", "replace"), blob[width : width + 1], blob[width + 1 :]
        cipher = self._ciphers.get(kid)
        if sep != SEPARATOR.encode() or cipher is None:
            raise UnreadableData(_("a file was encrypted with a key that is not configured"))
        try:
            return cipher.decrypt(rest[:NONCE_BYTES], rest[NONCE_BYTES:], context)
        except InvalidTag:
            raise UnreadableData(_("a file does not authenticate (altered, or the wrong key)")) from None

    def blind_index(self, e164: str) -> str:
        """HMAC-SHA256 of a normalized number (32 hex digits): lookup and uniqueness of phones."""
        inner, outer = self._index[0].copy(), self._index[1].copy()  # keyed states, not re-keyed
        inner.update(e164.encode())
        outer.update(inner.digest())
        return outer.hexdigest()[:32]

    def blind_indexes(self, numbers: Iterable[str]) -> list[str]:
        """`blind_index` over many numbers: the bulk paths."""
        return [self.blind_index(number) for number in numbers]

    def is_current(self, token: str | None) -> bool:
        return not token or token.startswith(self._prefix)

    def key_ids(self) -> list[str]:
        return list(self._ciphers)


_active: Keyring | None = None


def activate(settings: Settings) -> Keyring:
    """Loads the keys `settings` point to and makes them the process's keyring."""
    global _active
    _active = load_keyring(settings)
    return _active


def ensure_active(settings: Settings) -> Keyring:
    """The process's keyring, loaded from `settings` unless one is active already (edges call this
    before their first query, so that a missing key is a clear error, not a failed statement)."""
    return _active if _active is not None else activate(settings)


def use_keyring(keyring: Keyring | None) -> None:
    """Sets (or with None, forgets) the process's keyring: tests, benchmarks, key rotation."""
    global _active
    _active = keyring


def keyring() -> Keyring:
    """The process's keyring, loaded from the settings on first use."""
    if _active is None:
        from campaign.core.config import get_settings

        return activate(get_settings())
    return _active


def encrypt(text: str) -> str:
    return keyring().encrypt(text)


def decrypt(token: str) -> str:
    return keyring().decrypt(token)


def blind_index(e164: str) -> str:
    return keyring().blind_index(e164)


def sealed(column: Any) -> Any:
    """`column` read as its stored ciphertext (no decryption), labelled with its own name: for hot
    paths that decrypt only the few values they need (`decrypt`)."""
    return type_coerce(column, String()).label(column.key)


def is_embedded(settings: Settings) -> bool:
    """The embedded default: a SQLite database, the only one a key file may serve."""
    return settings.database_url.startswith("sqlite")


def load_keyring(settings: Settings) -> Keyring:
    """Keys from the environment, else (SQLite only) from the key file. Invalid when neither."""
    data = settings.data_key.get_secret_value().strip()
    index = settings.index_key.get_secret_value().strip()
    if data or index:
        if not (data and index):
            missing = "CAMPAIGN_INDEX_KEY" if data else "CAMPAIGN_DATA_KEY"
            raise Invalid(
                missing, _("set both CAMPAIGN_DATA_KEY and CAMPAIGN_INDEX_KEY (two different keys)")
            )
        keys = [_decode_key(k, "CAMPAIGN_DATA_KEY") for k in data.split(",") if k.strip()]
        index_key = _decode_key(index, "CAMPAIGN_INDEX_KEY")
        if index_key in keys:
            raise Invalid("CAMPAIGN_INDEX_KEY", _("use a key of its own, not one of CAMPAIGN_DATA_KEY"))
        return Keyring(keys, index_key, SOURCE_ENV)
    if not is_embedded(settings):
        raise Invalid(
            "CAMPAIGN_DATA_KEY",
            _(
                "set CAMPAIGN_DATA_KEY and CAMPAIGN_INDEX_KEY: a key file serves only the embedded SQLite "
                "database"
            ),
        )
    path = Path(settings.key_file)
    if not path.exists():
        raise Invalid(
            "CAMPAIGN_DATA_KEY",
            _(
                "no key file at %(path)s: run `campaign init`, or set CAMPAIGN_DATA_KEY and "
                "CAMPAIGN_INDEX_KEY",
                path=path,
            ),
        )
    return read_key_file(path)


def read_key_file(path: Path) -> Keyring:
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        keys = [_decode_key(k, str(path)) for k in stored["data"]]
        index_key = _decode_key(stored["index"], str(path))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise Invalid(
            str(path), _("the key file cannot be read (%(kind)s)", kind=type(exc).__name__)
        ) from None
    if not keys:
        raise Invalid(str(path), _("the key file holds no data key"))
    return Keyring(keys, index_key, SOURCE_FILE, path)


def write_key_file(path: Path, data_keys: Iterable[str], index_key: str) -> None:
    """Writes the key file atomically with mode 0600 (never readable by others, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump({"data": list(data_keys), "index": index_key}, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    os.chmod(path, 0o600)


def ensure_key_file(settings: Settings) -> bool:
    """For the embedded default without keys in the environment: creates the key file when it does
    not exist yet. Returns True when it created one."""
    if settings.data_key.get_secret_value() or settings.index_key.get_secret_value():
        return False
    if not is_embedded(settings):
        return False
    path = Path(settings.key_file)
    if path.exists():
        os.chmod(path, 0o600)
        return False
    write_key_file(path, [new_key()], new_key())
    return True


def key_source(settings: Settings) -> tuple[str, Path | None]:
    """Where the keys come from (SOURCE_ENV or SOURCE_FILE, with its path) without loading them."""
    if settings.data_key.get_secret_value() or settings.index_key.get_secret_value():
        return SOURCE_ENV, None
    return SOURCE_FILE, Path(settings.key_file)


_MEANINGLESS = frozenset(
    {
        operators.eq,
        operators.ne,
        operators.lt,
        operators.le,
        operators.gt,
        operators.ge,
        operators.in_op,
        operators.not_in_op,
        operators.like_op,
        operators.ilike_op,
        operators.not_like_op,
        operators.startswith_op,
        operators.endswith_op,
        operators.contains_op,
        operators.between_op,
    }
)


class Encrypted(TypeDecorator[str]):
    """A text column stored encrypted (AES-256-GCM, random nonce); reads decrypt.

    Nothing but equality with NULL (IS NULL) or the empty string means anything in SQL: search
    phones by `Contact.phone_index`.
    """

    impl = String
    cache_ok = True

    class comparator_factory(TypeDecorator.Comparator[str]):  # noqa: N801 - SQLAlchemy's name
        """Refuses comparisons that would silently match nothing (a ciphertext has a random nonce)."""

        def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
            if op in _MEANINGLESS and not (op in (operators.eq, operators.ne) and other == (None,)):
                raise TypeError(
                    f"{self.expr} is encrypted: compare a blind index (Contact.phone_is) or decrypt in Python"
                )
            return super().operate(op, *other, **kwargs)

        def reverse_operate(self, op: Any, other: Any, **kwargs: Any) -> Any:
            if op in _MEANINGLESS:
                raise TypeError(f"{self.expr} is encrypted: it cannot be compared in SQL")
            return super().reverse_operate(op, other, **kwargs)

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else keyring().encrypt(value)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else keyring().decrypt(value)


class EncryptedText(Encrypted):
    """`Encrypted` over a TEXT column (message bodies, notes)."""

    impl = Text
    cache_ok = True
