"""The foundation every package may import: database plumbing, settings, errors, console output,
the language registry and the audit log. Imports nothing else of the project."""
