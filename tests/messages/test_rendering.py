"""Rendering message templates: strict variables, sandbox, filters, normalization."""

from __future__ import annotations

import pytest

from campaign.core.errors import Invalid
from messages.rendering import build_context, normalize_text, render, template_variables


def test_renders_contact_and_hotline_variables():
    context = build_context(
        defaults={"hotline_mujer": "1572", "organizacion": "Red"},
        campaign={"organizacion": "Red de Prevención"},
        step={"hotline_mujer": "1500"},
        contact={"name": "Ana María López"},
    )
    out = render("{{ organizacion }}: Hola {{ contact.name | first_name }}, llama al {{ hotline_mujer }}.",
                 context)
    assert out == "Red de Prevención: Hola Ana, llama al 1500."


def test_missing_variable_is_an_error_naming_it():
    with pytest.raises(Invalid) as caught:
        render("Llama al {{ hotline_mujer }}", {"policia": "110"})
    assert caught.value.field == "variable"
    assert "'hotline_mujer' is undefined" in caught.value.reason


def test_sandbox_refuses_python_internals():
    with pytest.raises(Invalid, match="template"):
        render("{{ x.__class__.__mro__ }}", {"x": "a"})


def test_syntax_error_names_the_line():
    with pytest.raises(Invalid, match="line 2"):
        render("hola\n{{ x ", {"x": 1})


def test_no_html_escaping_in_sms_text():
    assert render("{{ a }}", {"a": "Tom & Jerry <3"}) == "Tom & Jerry <3"


def test_output_is_normalized():
    assert render("{{ w }}", {"w": "Q’eqchiʼ"}) == "Q'eqchi'"


@pytest.mark.parametrize("raw", ["K’iche’", "Kʼicheʼ", "K‘iche‘", "K´iche´", "K`iche`"])
def test_normalize_text_apostrophes(raw):
    assert normalize_text(raw) == "K'iche'"
    assert normalize_text(normalize_text(raw)) == "K'iche'"


def test_template_variables_are_the_top_level_names():
    template = "{{ organizacion }} {{ contact.name | first_name }} {% if policia %}x{% endif %}"
    names = template_variables(template)
    assert names == {"organizacion", "contact", "policia"}
