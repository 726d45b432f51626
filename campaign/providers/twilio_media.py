"""Downloading a contact's media (voice note, image) from Twilio: strict URL, credentials, limits.

A MediaUrl{N} of an inbound webhook is Twilio's Media resource,
`{api base}/2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{MediaSid}`. The webhook
is signed, but a URL is still checked before anything is requested, so that no webhook can make
us fetch another host or another account's resource: same scheme, host and port as
`Settings.twilio_api_base`, our account, letters-and-digits SIDs, no query, no credentials in it.
The request carries HTTP basic auth (account SID and auth token). Twilio answers with a redirect
to its media store: a redirect is followed (at most MAX_REDIRECTS) only to https, or to the API's
own origin (a local gateway or the test server on 127.0.0.1), and the credentials go only with
the first request (the store's URL carries its own signature). The body is read in chunks and
refused past `max_bytes`; a type outside MEDIA_TYPES is refused from its headers, before its body
is read.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import requests

from campaign.core.errors import ProviderError
from campaign.providers.base import MediaRefused, is_retryable, media_allowed, media_type

MAX_REDIRECTS = 3
CHUNK = 64 * 1024
_MEDIA_PATH = re.compile(
    r"/2010-04-01/Accounts/(AC[A-Za-z0-9]{32})/Messages/[A-Za-z0-9]{34}/Media/[A-Za-z0-9]{34}"
)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def check_media_url(url: str, *, api_base: str, account_sid: str) -> None:
    """Raises MediaRefused("url") unless `url` is our account's Twilio media resource at `api_base`."""
    try:
        parts = urlsplit(url)
        origin = _origin(url)
    except ValueError:
        raise MediaRefused("url", "not a URL") from None
    match = _MEDIA_PATH.fullmatch(parts.path)
    if origin != _origin(api_base) or parts.username or parts.password or parts.query or parts.fragment:
        raise MediaRefused("url", "not the provider's media host")
    if match is None or match.group(1) != account_sid:
        raise MediaRefused("url", "not a media resource of this account")


def fetch_twilio_media(
    http: requests.Session, url: str, *, api_base: str, account_sid: str, auth_token: str, max_bytes: int,
    timeout: float,
) -> tuple[str, bytes]:
    """(content type, bytes) of the media at `url` (see the module docstring for what is refused).
    Raises MediaRefused (url, type, size: never retried) or ProviderError (HTTP or network error;
    retryable for 429, 5xx, 401/403 (credentials can be fixed) and network failures)."""
    check_media_url(url, api_base=api_base, account_sid=account_sid)
    home = _origin(api_base)
    current = url
    for hop in range(MAX_REDIRECTS + 1):
        auth = (account_sid, auth_token) if hop == 0 else None  # the media store's URL is pre-signed
        try:
            response = http.get(current, auth=auth, stream=True, allow_redirects=False, timeout=timeout)
        except requests.exceptions.RequestException as exc:
            reason = f"media download failed: {type(exc).__name__}"
            raise ProviderError("network", reason, retryable=True) from exc
        with response:
            if response.is_redirect:
                target = urljoin(current, response.headers.get("Location", ""))
                scheme = urlsplit(target).scheme.lower()
                if scheme != "https" and _origin(target) != home:
                    raise MediaRefused("url", "the provider redirected to a URL that is not https")
                current = target
                continue
            if response.status_code != 200:
                code = str(response.status_code)
                retryable = is_retryable(code, response.status_code) or response.status_code in (401, 403)
                raise ProviderError(code, f"media download answered HTTP {code}", retryable=retryable)
            content_type = media_type(response.headers.get("Content-Type"))
            if not media_allowed(content_type):
                raise MediaRefused("type", f"type not shown: {content_type[:60] or 'unknown'}")
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise MediaRefused("size", f"larger than {max_bytes} bytes")
            data = bytearray()
            try:
                for chunk in response.iter_content(CHUNK):
                    data += chunk
                    if len(data) > max_bytes:
                        raise MediaRefused("size", f"larger than {max_bytes} bytes")
            except requests.exceptions.RequestException as exc:
                raise ProviderError(
                    "network", f"media download cut: {type(exc).__name__}", retryable=True
                ) from exc
            return content_type, bytes(data)
    raise ProviderError("redirects", f"more than {MAX_REDIRECTS} redirects", retryable=True)
