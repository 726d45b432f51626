"""Content: message library, translations, rendering, SMS encoding, lint, radio scripts, packs."""
