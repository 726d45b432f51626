"""Typed settings from environment variables (prefix CAMPAIGN_) and an optional .env file.

Leaf module: imports no domain code. Build settings on demand with `get_settings()`; nothing
reads the environment at import time.
"""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from campaign.core.errors import Invalid

DEFAULT_DATABASE_URL = "sqlite:///./var/campaign.db"
DEVELOPMENT_SECRET_KEY = "dev-only-change-me"
TWILIO_API_BASE = "https://api.twilio.com"


class Settings(BaseSettings):
    """Every setting of the engine. The README's configuration table is checked against this."""

    model_config = SettingsConfigDict(
        env_prefix="CAMPAIGN_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="SQLAlchemy URL of the database (SQLite file by default; "
        "postgresql+psycopg://... for production)",
    )
    locale: Literal["es", "en"] = Field(
        "es", description="Language of the command line's output and the web app's default: es or en"
    )
    timezone: str = Field(
        "America/Guatemala", description="Default timezone for campaigns and contacts"
    )
    date_order: Literal["dmy", "mdy", "ymd"] = Field(
        "dmy",
        description="How contact imports read dates written with separators: dmy (05/01/2027 is "
        "5 January, Guatemala's convention), mdy or ymd; ISO dates (2027-01-05) are always read as such",
    )
    radio_log_tolerance_minutes: int = Field(
        30,
        ge=0,
        le=720,
        description="How far a producer's logged airing time may be from the planned slot and still "
        "match it (`campaign radio log`), in minutes either way",
    )
    default_region: str = Field(
        "GT", description="Region used to read phone numbers written without a country code"
    )
    send_window_start: time = Field(
        time(8, 0),
        description="Default start of a campaign's send window (contact's local time), when its "
        "file gives none",
    )
    send_window_end: time = Field(
        time(20, 0),
        description="Default end of a campaign's send window (contact's local time), when its file "
        "gives none",
    )
    quiet_hours_start: time = Field(
        time(20, 0),
        description="Start of the deployment's quiet hours, contact's local time: no blast is sent "
        "from then until quiet_hours_end (a campaign window may be narrower, never wider)",
    )
    quiet_hours_end: time = Field(
        time(8, 0), description="End of the deployment's quiet hours, contact's local time"
    )
    allow_night_windows: bool = Field(
        False,
        description="Let a campaign's send window reach into the quiet hours (off: such a campaign "
        "file is refused)",
    )
    min_recurrence_hours: float = Field(
        24.0,
        gt=0,
        description="Shortest time between two firings of a recurring SMS step (24 = at most daily); "
        "lower it only if the deployment really sends more often",
    )
    blast_max_per_hour: int = Field(
        2000,
        ge=1,
        description="Blast messages per hour across all campaigns: the hotline's capacity (replies "
        "staff can answer per hour divided by the expected reply rate)",
    )
    contact_max_per_week: int = Field(
        2,
        ge=1,
        description="Blast messages one contact receives at most in any 7 days, across campaigns "
        "(more are skipped as frequency_cap)",
    )
    discreet_min_days: int = Field(
        14,
        ge=0,
        description="Days between two discreet messages (safety flag discreet) to the same contact, "
        "unless the campaign's pacing.discreet_min_days says otherwise",
    )
    price_per_segment: float = Field(
        0.0545, description="Estimated cost of one SMS segment, in price_currency"
    )
    price_currency: str = Field("USD", description="Currency of price_per_segment")
    # WhatsApp is priced per message by the template's Meta category, plus the provider's fee.
    # Defaults are examples (Meta's rate for the rest of Latin America plus Twilio's fee, 2025):
    # set your contract's figures.
    whatsapp_price_marketing: float = Field(
        0.079, ge=0, description="Estimated cost of one WhatsApp marketing template message, in "
        "price_currency (example figure: set your contract's)",
    )
    whatsapp_price_utility: float = Field(
        0.0163, ge=0, description="Estimated cost of one WhatsApp utility template message, in "
        "price_currency (example figure)",
    )
    whatsapp_price_authentication: float = Field(
        0.0163, ge=0, description="Estimated cost of one WhatsApp authentication template message, in "
        "price_currency (example figure)",
    )
    whatsapp_price_session: float = Field(
        0.005, ge=0, description="Estimated cost of one WhatsApp free-text message inside the 24-hour "
        "window after the contact's last message (no template), in price_currency (example figure)",
    )
    provider: Literal["sandbox", "twilio"] = Field(
        "sandbox", description="SMS provider: sandbox (no network, default) or twilio"
    )
    twilio_account_sid: str = Field("", description="Twilio Account SID (AC...)")
    twilio_auth_token: SecretStr = Field(
        SecretStr(""), description="Twilio Auth Token (secret; masked in every output)"
    )
    twilio_from: str = Field("", description="Sender phone number or alphanumeric sender ID")
    twilio_messaging_service_sid: str = Field(
        "", description="Twilio Messaging Service SID (MG...), used instead of twilio_from"
    )
    twilio_whatsapp_from: str = Field(
        "",
        description="WhatsApp sender (whatsapp:+...) for WhatsApp steps; empty: the Messaging "
        "Service sends WhatsApp too",
    )
    twilio_api_base: str = Field(
        TWILIO_API_BASE,
        description="Base URL of the Twilio REST API (set for a compatible gateway or a local "
        "test server)",
    )
    public_url: str = Field(
        "http://127.0.0.1:8000",
        description="Public base URL where the provider reaches our webhooks (/twilio/...)",
    )
    sandbox_auth_token: SecretStr = Field(
        SecretStr("sandbox-signing-key"),
        description="Key the sandbox provider signs its simulated webhooks with",
    )
    sandbox_seed: int = Field(1, description="Seed of the sandbox provider's simulation")
    rate_per_second: float = Field(
        10.0,
        gt=0,
        description="Messages per second per sender for the whole deployment: every scheduler "
        "process shares it (through PostgreSQL, or Redis when CAMPAIGN_REDIS_URL is set)",
    )
    redis_url: str = Field(
        "",
        description="Redis URL (redis://host:6379/0) holding the shared rate limit instead of "
        "PostgreSQL; empty: the database holds it (SQLite: one process only)",
    )
    concurrency: int = Field(8, description="Concurrent provider requests per dispatcher")
    batch_size: int = Field(500, description="Outbound rows claimed per dispatch batch")
    max_attempts: int = Field(5, description="Attempts before a transient failure is final")
    tick_seconds: float = Field(5.0, description="Seconds between scheduler ticks")
    import_max_rows: int = Field(
        2_000_000,
        gt=0,
        description="Most data rows one contact file may have (`audiences import` refuses larger files)",
    )
    attribution_days: int = Field(
        7, description="Days within which an inbound reply is attributed to the last outbound"
    )
    webhook_batch_max: int = Field(
        200,
        ge=1,
        description="Provider webhooks stored together in one transaction at most (group commit: "
        "each is answered once that transaction has committed); 1 = one transaction per request",
    )
    inbox_refresh_seconds: float = Field(
        3.0,
        gt=0,
        le=60,
        description="Seconds between the hotline inbox's live refreshes in the browser (a new "
        "urgent case shows within this time)",
    )
    case_lock_minutes: int = Field(
        10, gt=0, description="Minutes of inactivity after which a staff member's hold on a case ends"
    )
    service_targets: dict[str, int] = Field(
        default_factory=lambda: {"urgent": 5, "high": 30},
        description="Minutes a case of each priority may wait for an answer before the inbox "
        "shows it late (JSON; priorities not listed have no target)",
    )
    secret_key: SecretStr = Field(
        SecretStr(DEVELOPMENT_SECRET_KEY),
        description="Key that signs web session cookies and CSRF tokens (set in production)",
    )
    data_key: SecretStr = Field(
        SecretStr(""),
        description="Key (32 random bytes, URL-safe base64) that encrypts phone numbers, names, "
        "message bodies, case notes and import reports in the database; a comma-separated list "
        "while `campaign keys rotate` runs (the first encrypts). Required with PostgreSQL",
    )
    index_key: SecretStr = Field(
        SecretStr(""),
        description="Second key (same form as data_key, never the same) of the blind index that "
        "finds a phone number without decrypting; never rotated",
    )
    key_file: Path = Field(
        Path("./var/campaign.keys"),
        description="Key file of the embedded SQLite default when data_key and index_key are not "
        "set: created by `campaign init` with mode 0600; back it up, without it the data is lost",
    )
    retention_body_days: int = Field(
        180,
        ge=1,
        description="Days after which the text of inbound and outbound messages is deleted "
        "(`campaign privacy purge`, run daily by the scheduler)",
    )
    retention_case_days: int = Field(
        365,
        ge=1,
        description="Days after a case is resolved when it is anonymized: its notes and the texts "
        "of its messages are deleted, its outcome and times kept for the figures",
    )
    retention_import_report_days: int = Field(
        30, ge=1, description="Days after which an import's rejection report (raw values) is deleted"
    )
    session_idle_minutes: int = Field(
        30, ge=1, le=24 * 60,
        description="Minutes without a request after which a staff member's web session ends",
    )
    session_max_hours: float = Field(
        12.0, gt=0, le=24 * 7,
        description="Hours after login at which a staff member's web session ends, active or not",
    )
    login_max_failures: int = Field(
        10, ge=3, le=1000,
        description="Failed logins of one account that lock it for login_lock_minutes (a source "
        "address is locked after three times as many, across accounts)",
    )
    login_lock_minutes: int = Field(
        15, ge=1, le=24 * 60, description="Minutes an account or source address stays locked"
    )
    host: str = Field("127.0.0.1", description="Address `campaign serve` listens on")
    port: int = Field(8000, description="Port `campaign serve` listens on")
    export_dir: Path = Field(
        Path("./var/exports"), description="Where radio and report exports are written"
    )
    media_dir: Path = Field(
        Path("./var/media"),
        description="Where voice notes and images sent by contacts are kept, encrypted with the data "
        "key (files 0600, removed by retention and erasure), and radio recordings (recordings/: "
        "originals and their OGG/Opus voice notes)",
    )
    media_max_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024,
        description="Largest voice note or image from a contact that is downloaded (bytes); a larger "
        "one is refused and shown as such on the case",
    )
    extra_languages: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Languages added by this deployment, as JSON: "
        '{"ixl": {"name": "Ixil", "native_name": "Ixil"}}',
    )
    sensitive_words: list[str] = Field(
        default_factory=lambda: [
            "golpe", "violen", "violac", "trata", "abus", "denunci", "maltrat", "agresi", "agresor", "amenaz",
        ],
        description="Word stems lint flags in messages marked discreet, and next to a person's name "
        "(JSON list; each matches any word it begins: golpe -> golpean)",
    )
    hotline_defaults: dict[str, str] = Field(
        default_factory=lambda: {
            "policia": "110",
            "hotline_mujer": "1572",
            "linea_maya": "1524",
            "alba_keneth": "1546",
            "pdh": "1555",
            "organizacion": "Red de Prevención",
        },
        description="Deployment defaults for message variables such as hotline numbers (JSON)",
    )

    def unsafe_to_expose(self, host: str) -> str | None:
        """Why serving on `host` would be unsafe with these settings (None when it is fine).

        Anyone who knows the development key can forge a session cookie, so it is refused for any
        address other than loopback, and whenever the real Twilio provider is configured. The
        sandbox provider's signing key is public (anyone could sign a fake inbound message), so
        the sandbox never serves beyond loopback.
        """
        loopback = host.strip("[]") in {"127.0.0.1", "::1", "localhost"} or host.startswith("127.")
        if self.provider == "sandbox" and not loopback:
            return (
                "the sandbox provider's signing key is public: it serves only 127.0.0.1 "
                "(use CAMPAIGN_PROVIDER=twilio)"
            )
        key = self.secret_key.get_secret_value()
        if key != DEVELOPMENT_SECRET_KEY and len(key) >= 16:
            return None
        if loopback and self.provider == "sandbox":
            return None
        return "set CAMPAIGN_SECRET_KEY to a long random string (at least 16 characters) first"

    def whatsapp_price(self, category: str | None) -> float:
        """The price of one WhatsApp message: "session" for free text inside the 24-hour window,
        else a template of `category` (marketing, utility, authentication; an unknown or missing
        category is priced as marketing, the dearest: estimates err on the side of cost)."""
        prices = {
            "marketing": self.whatsapp_price_marketing,
            "utility": self.whatsapp_price_utility,
            "authentication": self.whatsapp_price_authentication,
            "session": self.whatsapp_price_session,
        }
        return prices.get(category or "marketing", self.whatsapp_price_marketing)

    def masked(self) -> dict[str, str]:
        """The effective settings as strings, with every secret masked."""
        out: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                raw = value.get_secret_value()
                # encryption keys: not even their last characters
                whole = name in ("data_key", "index_key")
                out[name] = ("*" * 8 if raw else "") if whole else mask_secret(raw)
            elif name == "database_url":
                out[name] = mask_url_password(str(value))
            elif isinstance(value, str) and ("://" in value or "@" in value):
                out[name] = mask_url_credentials(value)  # an API base may carry user:token@
            else:
                out[name] = str(value)
        return out


def mask_secret(raw: str) -> str:
    """`abcd1234efgh` -> `********efgh`; short or empty secrets are fully hidden."""
    if not raw:
        return ""
    if len(raw) < 12:
        return "*" * 8
    return "*" * 8 + raw[-4:]


SECRET_QUERY_WORDS = ("pass", "pwd", "token", "secret", "key", "auth", "sig", "credential")


def mask_url_password(url: str) -> str:
    """Hides the password part of a database URL (and secrets in its query); the user stays."""
    return mask_url_credentials(url, keep_user=True)


def mask_url_credentials(url: str, *, keep_user: bool = False) -> str:
    """`url` with every credential it carries masked: the password (with `keep_user`) or the whole
    `user:password@` part, and query values whose name says password, token, secret, key, auth or
    signature. Text that is not a URL but holds an `@` is masked up to its last `@`."""
    from urllib.parse import parse_qsl, urlencode, urlsplit

    try:
        parts = urlsplit(url)
        masked = url  # edited in place: urlunsplit would turn sqlite:///x into sqlite:/x
        if "@" in parts.netloc:
            userinfo, host = parts.netloc.rsplit("@", 1)
            user, has_password, _ = userinfo.partition(":")
            if keep_user and user:
                netloc = f"{user}:***@{host}" if has_password else f"{user}@{host}"
            else:
                netloc = f"***@{host}"
            masked = masked.replace(parts.netloc, netloc, 1)
        if parts.query:
            pairs = parse_qsl(parts.query, keep_blank_values=True)
            if any(any(w in k.lower() for w in SECRET_QUERY_WORDS) for k, _ in pairs):
                query = urlencode(
                    [(k, "***" if any(w in k.lower() for w in SECRET_QUERY_WORDS) else v) for k, v in pairs],
                    safe="*",
                )
                masked = masked.replace("?" + parts.query, "?" + query, 1)
        return masked
    except ValueError:
        if "@" in url:
            scheme, sep, rest = url.partition("://")
            return f"{scheme}{sep}***@{rest.rsplit('@', 1)[1]}" if sep else "***@" + url.rsplit("@", 1)[1]
        return url


def get_settings(**overrides: Any) -> Settings:
    """Builds settings from the environment and .env, with keyword overrides on top.

    Raises Invalid naming the environment variable at fault when a value does not parse.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "CAMPAIGN_" + "_".join(str(p) for p in first["loc"]).upper()
        raise Invalid(name, first["msg"]) from exc
