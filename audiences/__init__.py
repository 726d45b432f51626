"""People: contacts, phone normalization, consent, import, segments, Guatemalan geography."""
