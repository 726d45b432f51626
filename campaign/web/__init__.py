"""The web app: FastAPI + Jinja2 server-rendered pages for hotline staff and managers, and webhooks."""

from campaign.web.app import create_app

__all__ = ["create_app"]
