"""The web app as benchmarks/webhooks.py serves it: unchanged, plus an echo of `X-Bench-Seq`.

The load generator (wrk) numbers each request in an `X-Bench-Seq` header; this ASGI wrapper copies
it onto the response, so that the benchmark knows exactly which requests were answered 2xx and can
check each of them in the database afterwards. Run by uvicorn as `_webhook_server:make_app`.
"""

from __future__ import annotations

from typing import Any

from campaign.web.app import create_app

HEADER = b"x-bench-seq"


def make_app() -> Any:
    app = create_app()

    async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        seq = next((value for key, value in scope["headers"] if key == HEADER), None)

        async def send_with_seq(message: dict[str, Any]) -> None:
            if seq is not None and message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (HEADER, seq)]}
            await send(message)

        await app(scope, receive, send_with_seq)

    echo.state = app.state  # type: ignore[attr-defined]
    return echo
