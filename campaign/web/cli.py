"""CLI command of the web app: `campaign serve`."""

from __future__ import annotations

import os

import typer

from campaign.core.config import Settings, get_settings
from campaign.core.console import info
from campaign.core.errors import AppError, Invalid
from campaign.core.i18n import _
from campaign.hotline.webhooks import INBOUND_PATH, STATUS_PATH


def serve(
    host: str = typer.Option(None, "--host", help="Address to listen on (default: settings.host)."),
    port: int = typer.Option(None, "--port", help="Port to listen on (default: settings.port)."),
    workers: int = typer.Option(
        1,
        "--workers",
        min=1,
        help="Worker processes: keep 1 on SQLite (one writer at a time); more on PostgreSQL.",
    ),
) -> None:
    """Run the web app (inbox, dashboard, webhooks) with uvicorn."""
    import uvicorn

    from campaign.web import create_app

    settings = get_settings()
    host, port = host or settings.host, port or settings.port
    problem = settings.unsafe_to_expose(host)
    if problem:
        reason = _("refusing to serve on %(host)s: %(problem)s", host=host, problem=problem)
        raise Invalid("CAMPAIGN_SECRET_KEY", reason)
    _check_port_free(host, port)
    if settings.public_url == Settings.model_fields["public_url"].default:
        # No public URL configured: the provider reaches this very server, so webhooks are signed
        # for (and validated against) the address it listens on, not the default port.
        local = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
        settings = settings.model_copy(update={"public_url": local})
        os.environ["CAMPAIGN_PUBLIC_URL"] = local  # for --workers: each builds its app from the environment
    webhooks = settings.public_url.rstrip("/")
    inbound, status = webhooks + INBOUND_PATH, webhooks + STATUS_PATH
    info(
        _(
            "Serving on http://%(host)s:%(port)s (webhooks: %(inbound)s and %(status)s)",
            host=host,
            port=port,
            inbound=inbound,
            status=status,
        )
    )
    if workers > 1:  # each worker process builds its own app from the environment
        uvicorn.run("campaign.web.app:create_app", factory=True, host=host, port=port, workers=workers)
    else:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


def _check_port_free(host: str, port: int) -> None:
    """Raises AppError, before anything says "Serving on", when `host:port` cannot be listened on."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise AppError(
                _(
                    "cannot listen on %(host)s:%(port)s (%(reason)s): is another `campaign serve` "
                    "running? Stop it, or choose another port with --port or CAMPAIGN_PORT",
                    host=host,
                    port=port,
                    reason=exc.strerror or exc,
                )
            ) from None


def register(app: typer.Typer) -> None:
    """Adds `campaign serve` to the root `campaign` app."""
    app.command("serve")(serve)
