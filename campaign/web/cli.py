"""CLI command of the web app: `campaign serve`."""

from __future__ import annotations

import typer

from campaign.core.config import get_settings
from campaign.core.console import info
from campaign.core.errors import Invalid


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
        raise Invalid("CAMPAIGN_SECRET_KEY", f"refusing to serve on {host}: {problem}")
    info(f"Serving on http://{host}:{port} (webhooks at {settings.public_url})")
    if workers > 1:  # each worker process builds its own app from the environment
        uvicorn.run("campaign.web.app:create_app", factory=True, host=host, port=port, workers=workers)
    else:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


def register(app: typer.Typer) -> None:
    """Adds `campaign serve` to the root `campaign` app."""
    app.command("serve")(serve)
