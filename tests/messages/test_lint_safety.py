"""Safer shipped content (issue 11): `campaign messages lint` holds the stricter rules on discreet
messages and referrals, the revised pack passes them, and the old drafts they replace do not.

Every message here is synthetic test content; the old bodies are the pack's earlier wording."""

from __future__ import annotations

import json

import pytest

from messages.packs import DEFAULT_PACK_DIR
from tests.messages.conftest import message
from tests.subprocess_cli import run_cli

SAFETY_CODES = {
    "sensitive-word",
    "discreet-name",
    "name-with-sensitive",
    "police-for-questions",
    "migrants-to-police",
    "linea-maya-audience",
    "no-alba-keneth",
}


def _lint(folder) -> tuple[int, list[dict]]:
    result = run_cli("messages", "lint", "--pack", str(folder), "--json")
    return result.returncode, json.loads(result.stdout)["findings"]


def test_the_revised_pack_passes_lint_with_the_stricter_rules():
    code, findings = _lint(DEFAULT_PACK_DIR)
    errors = [f for f in findings if f["level"] == "error"]
    assert code == 0 and errors == []
    assert not [f for f in findings if f["code"] in SAFETY_CODES]


WOMEN = ["single_mother_households"]
PARENTS = ["parents_of_adolescents", "single_mother_households"]
OLD_DRAFTS = [
    # (what the earlier pack said, the finding it now gets)
    (
        message(
            "derechos-mujer",
            body="Si en casa la golpean o amenazan, no es su culpa. Llame al {{ hotline_mujer }}.",
            variables=["hotline_mujer"],
            safety_flags=["discreet", "help"],
            audiences=WOMEN,
        ),
        "sensitive-word",
    ),
    (
        message(
            "donde-pedir-ayuda",
            body="{{ contact.name | first_name }}, si hay violencia en casa llame al {{ hotline_mujer }}.",
            variables=["contact", "hotline_mujer"],
            safety_flags=["help"],
            audiences=WOMEN,
        ),
        "name-with-sensitive",
    ),
    (
        message(
            "discreto-con-nombre",
            body="{{ contact.name | first_name }}, un consejo: {{ hotline_mujer }}.",
            variables=["contact", "hotline_mujer"],
            safety_flags=["discreet", "help"],
            audiences=WOMEN,
        ),
        "discreet-name",
    ),
    (
        message(
            "madre-jefa-hogar",
            body="Pida nombre y teléfono. Dudas: {{ policia }}",
            variables=["policia"],
            safety_flags=["help"],
            audiences=WOMEN,
        ),
        "police-for-questions",
    ),
    (
        message(
            "spot-redes-sociales",
            body="¿Alguna duda? Llame al {{ policia }}.",
            variables=["policia"],
            safety_flags=["help"],
            audiences=WOMEN,
        ),
        "police-for-questions",
    ),
    (
        message(
            "migrante-derechos",
            body="Si te encierran, eres víctima. Ayuda: {{ policia }}",
            variables=["policia"],
            safety_flags=["help"],
            audiences=["migrants_in_transit"],
        ),
        "migrants-to-police",
    ),
    (
        message(
            "trabajo-domestico-ninas",
            body="Su hija en casa ajena? Ayuda: {{ linea_maya }}",
            variables=["linea_maya"],
            safety_flags=["help"],
            audiences=PARENTS,
            topic="trafficking.domestic_servitude",
        ),
        "linea-maya-audience",
    ),
    (
        message(
            "trabajo-domestico-ninas",
            body="Su hija en casa ajena? Ayuda: {{ linea_maya }}",
            variables=["linea_maya"],
            safety_flags=["help"],
            audiences=PARENTS,
            topic="trafficking.domestic_servitude",
        ),
        "no-alba-keneth",
    ),
]


@pytest.mark.parametrize(("draft", "code"), OLD_DRAFTS, ids=[c for _, c in OLD_DRAFTS])
def test_each_stricter_rule_refuses_the_old_wording(write_pack, draft, code):
    exit_code, findings = _lint(write_pack("p", [draft]))
    assert exit_code == 1
    assert code in {f["code"] for f in findings if f["level"] == "error"}, findings


def test_the_sensitive_list_matches_stems_not_parts_of_other_words(write_pack):
    harmless = message(
        "consejo",
        body="Un consejo para su familia: guarde sus documentos. {{ hotline_mujer }}",
        variables=["hotline_mujer"],
        safety_flags=["discreet", "help"],
        audiences=WOMEN,
    )
    exit_code, findings = _lint(write_pack("p", [harmless]))
    assert exit_code == 0, findings
