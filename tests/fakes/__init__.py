"""Local stand-ins for external services (a Twilio-speaking HTTP server)."""
