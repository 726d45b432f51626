"""Message templates have bounds: no template can take the machine's memory or time. Each refusal
is Invalid("template", "line N: ...") before anything big is built."""

from __future__ import annotations

import pytest

from campaign.core.errors import Invalid
from messages.rendering import MAX_OUTPUT, TemplateRefused, check_template, render

CONTEXT = {"x": "[x]", "n": 5, "organizacion": "Red", "contact": {"name": "Ana López Sintética"}}


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("{{ x * 200000000 }}", "line 1: the text would be longer than 10000 characters"),
        ("hola\n{{ 'a' * 10001 }}", "line 2: the text would be longer than 10000 characters"),
        ("{{ [x] * 20000 }}", "longer than 10000 characters"),
        ("{{ (x * 3000) ~ (x * 3000) ~ (x * 3000) ~ (x * 3000) }}", "longer than 10000 characters"),
        ("{{ 2 ** 100000 }}", "a power larger than 64"),
        ("{{ (2 ** 64) ** 64 ** 2 }}", "a power larger than 64"),
        ("{{ '%099999999d' % 1 }}", "formatting text with % is not allowed"),
        ("{{ x|center(1000000000) }}", "No filter named 'center'"),
        ("{{ x|indent(1000000000) }}", "No filter named 'indent'"),
        ("{{ x|truncate(99999999999) }}", "the number 99999999999 is larger than 10000"),
        ("{{ x|replace('x', 'y' * 9000) * 2 }}", "longer than 10000 characters"),
        ("{{ x.center(1000000000) }}", "calling center is not allowed"),
        ("{{ '{:>999999999}'.format(1) }}", "calling format is not allowed"),
        ("{% for i in range(100000) %}{{ x }}{% endfor %}", "for is not allowed in a message template"),
        ("{% set a = x * 5000 %}{{ a ~ a ~ a }}", "assign is not allowed"),
        ("{% macro m() %}x{% endmacro %}{{ m() }}", "macro is not allowed"),
        ("{{ lipsum(1000000) }}", "'lipsum' is undefined"),
        ("{{ x.__class__.__mro__ }}", "not allowed in a message template"),
        ("x" * 5001, "longer than 5000 characters"),
    ],
)
def test_a_template_beyond_a_bound_is_refused(template, words):
    with pytest.raises(Invalid) as refused:
        render(template, CONTEXT)
    assert refused.value.field in ("template", "variable")
    assert words in refused.value.reason


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ x * 3 }}", "[x][x][x]"),
        ("{% if n > 3 %}muchos{% elif n > 1 %}varios{% else %}uno{% endif %}", "muchos"),
        ("{{ contact.name|first_name }} / {{ contact.name.split()[0]|upper }}", "Ana / ANA"),
        ("{{ organizacion|default('Red')|lower }}: {{ 'x' * 9990 }}", "red: xxx"),
        ("{{ 2 ** 64 }}", str(2**64)),
    ],
)
def test_templates_within_bounds_still_render(template, expected):
    assert render(template, CONTEXT).startswith(expected)


def test_output_is_at_most_max_output_characters():
    assert len(render("{{ 'a' * 10000 }}", CONTEXT)) == MAX_OUTPUT
    with pytest.raises(TemplateRefused, match="longer than 10000 characters"):
        render("{{ 'a' * 10000 }}!", CONTEXT)


def test_check_template_refuses_bounds_only_not_placeholder_errors():
    check_template("{{ n + 1 }}", ["n"])  # "[n]" + 1 fails with placeholders: not a bound
    with pytest.raises(TemplateRefused, match="line 1: the text would be longer"):
        check_template("{{ n * 200000000 }}", ["n"])
