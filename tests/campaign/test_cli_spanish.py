"""The CLI speaks Spanish by default: a representative command of each area, in a fresh process.

Each area's tables, titles and info/warning lines come out in Spanish with CAMPAIGN_LOCALE=es
(statuses included), and none of the English words they used to print is left. `--json` keeps
its English keys and codes. Synthetic data only (SQLite: the words do not depend on the database).
"""

from __future__ import annotations

import json

import pytest

from tests.factories import make_contact, make_sms_message
from tests.subprocess_cli import run_cli

SPANISH = {"CAMPAIGN_LOCALE": "es"}
NOW = "2027-01-10T15:00:00Z"
CAMPAIGN = """slug: semanal
name: Semanal
timezone: America/Guatemala
steps:
  - id: aviso
    message: aviso
    query: 'department = "San Marcos"'
    at: '2027-01-11 10:00'
"""
# Words the CLI printed in English whatever the locale, before every one went through gettext.
ENGLISH = (
    " rows",
    "duplicates",
    "rejected",
    "approved by",
    "Campaigns",
    "added",
    "wrote",
    "message(s)",
    "running",
    "scheduled",
    "needs_review",
    "warning:",
    "Tick at",
    "Totals",
    "username",
)


@pytest.fixture
def spanish_db(db_url, session, tmp_path) -> str:
    make_sms_message(session, slug="aviso", bodies={"es": "Hola", "quc": "Saqarik"},
                     statuses={"quc": "needs_review"}, variables=[])
    for _ in range(3):
        make_contact(session, department="GT-12", language="es")
    session.commit()
    return db_url


def es(*args: str, db_url: str, ok: bool = True, input: str | None = None) -> str:
    """`campaign *args` in Spanish; its stdout and stderr together (checked for English words)."""
    result = run_cli(*args, db_url=db_url, env=SPANISH, input=input)
    if ok:
        assert result.returncode == 0, result.stderr or result.stdout
    output = result.stdout + result.stderr
    left = [word for word in ENGLISH if word in output]
    assert left == [], (args, left, output)
    return output


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_each_area_speaks_spanish(spanish_db, tmp_path):
    db = spanish_db
    contacts = tmp_path / "contactos.csv"
    contacts.write_text(
        "phone,name,language,consent\n12,Ana,es,formulario\n"
        "+50255551234,Bea,es,formulario\n+50255551234,Bea,es,formulario\n",
        encoding="utf-8",
    )
    imported = es("audiences", "import", str(contacts), "--dry-run", db_url=db, ok=False)
    for word in ("filas", "se importarían", "duplicadas", "rechazadas", "advertencias",
                 "Rechazadas por motivo", "motivo", "teléfono: demasiado corto", "advertencia:",
                 "error: archivo: "):
        assert word in imported, (word, imported)
    assert "identificador" in es("audiences", "segments", db_url=db)

    coverage = es("messages", "coverage", db_url=db)
    for word in ("mensaje", "idioma", "aprobada", "por revisar", "completo"):
        assert word in coverage, (word, coverage)
    approved = es("messages", "approve", "aviso", "--lang", "quc", "--by", "Rosa", db_url=db)
    assert "aprobada por Rosa" in approved, approved
    assert "archivo(s) de mensajes" in es("messages", "dump", str(tmp_path / "pack"), db_url=db)

    plan = tmp_path / "semanal.yaml"
    plan.write_text(CAMPAIGN, encoding="utf-8")
    assert "Campaña" in es("create", str(plan), db_url=db)
    es("launch", "semanal", "--yes", "--now", NOW, db_url=db)
    listed = es("list", db_url=db)
    for word in ("Campañas", "identificador", "nombre", "estado", "zona horaria", "pasos", "programada"):
        assert word in listed, (word, listed)
    shown = es("show", "semanal", db_url=db)
    assert "Pasos" in shown and "canal" in shown, shown
    ticked = es("tick", "--now", "2027-01-11T16:30:00Z", db_url=db)
    assert "Ciclo de" in ticked and "qué" in ticked, ticked
    assert "Totales" in es("report", "semanal", db_url=db)

    es("users", "add", "ana", "--role", "hotline", "--password-stdin", db_url=db, input="z" * 14 + "\n")
    users = es("users", "list", db_url=db)
    assert "usuario" in users and "línea de ayuda" in users, users
    assert "prioridad" in es("inbox", "list", db_url=db)
    assert "borrado" in es("privacy", "purge", db_url=db)
    assert "ajuste" in es("config", db_url=db)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_json_keeps_english_keys_and_codes(spanish_db, tmp_path):
    plan = tmp_path / "semanal.yaml"
    plan.write_text(CAMPAIGN, encoding="utf-8")
    assert run_cli("create", str(plan), db_url=spanish_db, env=SPANISH).returncode == 0
    listed = run_cli("list", "--json", db_url=spanish_db, env=SPANISH)
    assert json.loads(listed.stdout)[0]["status"] == "draft"
    coverage = json.loads(run_cli("messages", "coverage", "--json", db_url=spanish_db, env=SPANISH).stdout)
    assert coverage["messages"]["aviso"]["quc"] == "needs_review"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_errors_speak_spanish_and_stored_reasons_keep_their_english_codes(spanish_db, tmp_path):
    """Domain errors (radio stations, campaigns, import rejections) in Spanish by default and in
    English with CAMPAIGN_LOCALE=en; an import's --json keeps the English reason codes it groups by."""
    db = spanish_db
    stations = tmp_path / "emisoras.csv"
    stations.write_text("slug,name,frequency,languages,extra\nradio-x,Radio X,101.1,es,1\n", encoding="utf-8")
    spanish = run_cli("radio", "stations", "load", str(stations), db_url=db, env=SPANISH)
    assert spanish.returncode == 1
    assert "columna(s) desconocida(s) extra; se esperaba slug, name" in spanish.stderr, spanish.stderr
    english = run_cli("radio", "stations", "load", str(stations), db_url=db)
    assert "unknown column(s) extra; expected slug, name" in english.stderr, english.stderr
    missing = run_cli("radio", "stations", "load", str(tmp_path / "nada.csv"), db_url=db, env=SPANISH)
    assert "no se encontró el archivo de emisoras" in missing.stderr, missing.stderr
    assert "no se encontró la campaña 'nada'" in run_cli("show", "nada", db_url=db, env=SPANISH).stderr

    contacts = tmp_path / "contactos.csv"
    contacts.write_text(
        "phone,name,language,consent,municipality\n+50255551234,Ana,es,formulario,Springfield\n"
        "+50255551235,Bea,es,formulario,San José\n12,Cid,es,formulario,\n",
        encoding="utf-8",
    )
    table = es("audiences", "import", str(contacts), "--dry-run", db_url=db, ok=False)
    for words in ("municipio: municipio desconocido 'Springfield'", "teléfono: demasiado corto",
                  "'San José' es ambiguo (en Escuintla, Petén): indique el departamento"):
        assert words in table, (words, table)
    assert "unknown" not in table and "ambiguous" not in table, table
    report = run_cli("audiences", "import", str(contacts), "--dry-run", "--json", db_url=db, env=SPANISH)
    assert json.loads(report.stdout)["rejected_by_reason"] == {
        "municipality: unknown municipality 'Springfield'": 1,
        "municipality: 'San José' is ambiguous (in Escuintla, Petén): give the department": 1,
        "phone: too short": 1,
    }


# Unset: the product's default (the conftest asks for English; an empty value is the same as unset).
DEFAULT_LOCALE = {"CAMPAIGN_LOCALE": ""}
HELP_ENGLISH = ("Options", "Commands", "Arguments", "Show this message and exit", "[required]", "Usage:",
                "[OPTIONS]", "COMMAND [ARGS]")


@pytest.mark.parametrize(
    ("args", "spanish", "english"),
    [
        ((), ("Uso: campaign [OPCIONES] COMANDO [ARGUMENTOS]...", "Opciones", "Comandos",
              "Muestra este mensaje y sale.", "Mostrar la traza completa",
              "Motor de contenidos", "Lista las campañas.", "Contactos, importaciones"),
         ("Options", "Commands", "Show tracebacks on errors.", "List campaigns.")),
        (("audiences", "import"), ("Uso: campaign audiences import [OPCIONES] FILE",
                                   "Argumentos", "[obligatorio]", "Importa contactos desde un archivo",
                                   "Validar y contar; no escribir nada.", "TEXTO (repetible)"),
         ("Arguments", "[required]", "Import contacts from a CSV/XLSX file", "Validate and count")),
        (("launch",), ("Lanza una campaña en borrador", "Lanzar sin preguntar (scripts)",
                       "Actuar como si fuera esta hora"),
         ("Launch a draft campaign", "Launch without asking (scripts)", "Pretend it is this time")),
    ],
)
def test_help_is_spanish_by_default_and_english_on_request(args, spanish, english):
    """`--help` in a fresh process (help texts are read when drawn, not when modules are imported)."""
    shown = run_cli(*args, "--help", env=DEFAULT_LOCALE)
    assert shown.returncode == 0, shown.stderr
    missing = [words for words in spanish if words not in shown.stdout]
    assert missing == [], (missing, shown.stdout)
    left = [word for word in (*HELP_ENGLISH, *english) if word in shown.stdout]
    assert left == [], (left, shown.stdout)
    in_english = run_cli(*args, "--help", env={"CAMPAIGN_LOCALE": "en"})
    assert in_english.returncode == 0, in_english.stderr
    missing = [words for words in english if words not in in_english.stdout]
    assert missing == [], (missing, in_english.stdout)


def test_every_help_text_of_the_command_tree_has_its_spanish_form():
    """Each command's and option's help (as typer built it) is a msgid with a Spanish translation,
    so the extraction in tools/i18n.py cannot miss a way of writing help."""
    import typer.main

    from campaign.cli import app
    from campaign.core.i18n import catalogue

    spanish = catalogue("es")
    untranslated: list[str] = []

    def walk(command, path: str) -> None:
        texts = [command.help, command.short_help]
        texts += [param.help for param in command.params if getattr(param, "help", None)]
        for text in texts:  # a freshly built tree: the English texts of the code
            if text and text not in spanish:
                untranslated.append(f"{path}: {text!r}")
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(app), "campaign")
    assert untranslated == []


def test_a_usage_error_is_two_lines_in_the_users_language():
    """The usage line's own words too: "Uso:" and "[OPCIONES]" in Spanish, as written in English."""
    spanish = run_cli("launch", env=DEFAULT_LOCALE)
    assert spanish.returncode == 2
    assert spanish.stderr.splitlines() == [
        "Uso: campaign launch [OPCIONES] SLUG",
        "error: falta el argumento SLUG (vea 'campaign launch --help')",
    ]
    english = run_cli("launch", env={"CAMPAIGN_LOCALE": "en"})
    assert english.returncode == 2
    assert english.stderr.splitlines()[0] == "Usage: campaign launch [OPTIONS] SLUG"
