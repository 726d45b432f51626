"""The hotline: signed webhooks, inbound responses, triage (intents), the inbox's case services
and staff users."""
