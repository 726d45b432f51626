"""Awareness-campaign content and SMS outreach engine (application package)."""

__version__ = "0.1.0"
