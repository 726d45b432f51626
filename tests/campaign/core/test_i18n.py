"""The interface speaks Spanish by default and English on request; no msgid lacks its Spanish form."""

from __future__ import annotations

import os
import subprocess
import sys

from campaign.core.i18n import N_, _, best_match, ngettext, use_locale
from tests.conftest import ROOT


def test_every_msgid_of_the_code_and_templates_has_its_spanish_form():
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "i18n.py"), "check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_gettext_follows_the_context_locale_and_fills_placeholders():
    with use_locale("es"):
        assert _("Database is up to date (revision %(revision)s).", revision="abc") == (
            "La base de datos está al día (revisión abc)."
        )
    with use_locale("en-US"):
        assert _("Database is up to date (revision %(revision)s).", revision="abc") == (
            "Database is up to date (revision abc)."
        )
    with use_locale("es"):
        assert _("a msgid nobody translated") == "a msgid nobody translated"


def test_lazy_strings_translate_when_shown():
    constant = N_("empty")
    with use_locale("es"):
        assert str(constant) == "vacía"
    with use_locale("en"):
        assert str(constant) == "empty"


def test_plural_forms_pick_by_count():
    with use_locale("en"):
        assert ngettext("%(num)d contact", "%(num)d contacts", 1) == "1 contact"
        assert ngettext("%(num)d contact", "%(num)d contacts", 3) == "3 contacts"


def test_accept_language_prefers_the_best_ranked_interface_locale():
    assert best_match("en-US,en;q=0.9,es;q=0.8") == "en"
    assert best_match("fr-FR, es-GT;q=0.7, en;q=0.5") == "es"
    assert best_match("fr, de") is None
    assert best_match(None) is None


def test_the_command_line_speaks_spanish_by_default(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "CAMPAIGN_LOCALE"}
    env["CAMPAIGN_DATABASE_URL"] = f"sqlite:///{tmp_path}/fresh.db"
    command = [sys.executable, "-m", "campaign", "init"]
    first = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "Base de datos actualizada de vacía a" in first.stdout
    env["CAMPAIGN_LOCALE"] = "en"
    second = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert "Database is up to date" in second.stdout
