"""Radio scripts: validation names the part and field, rendering uses SMS variables, radio lint."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from campaign.core.errors import Invalid
from messages.duration import estimate_seconds
from messages.radio import lint_radio, render_script, script_parts, validate_script
from tests.factories import RADIO_SCRIPT_ES

VARIABLES = {"hotline_mujer": "1572", "organizacion": "Red Sintética"}


def test_valid_script_is_normalized():
    script = validate_script(
        [
            {"cue": "musica", "text": "entra", "seconds": "2 s"},
            {"speaker": "locutora", "text": "K’iche’   y  español"},
            {"cue": "PAUSA 1,5 s"},
            {"cue": "sfx", "seconds": 1},
        ]
    )
    assert script == [
        {"cue": "MÚSICA", "seconds": 2.0, "text": "entra"},
        {"speaker": "LOCUTORA", "text": "K'iche' y español"},
        {"cue": "PAUSA", "seconds": 1.5},
        {"cue": "SFX", "seconds": 1.0},
    ]


@pytest.mark.parametrize(
    ("parts", "field", "reason"),
    [
        ([], "script", "non-empty list"),
        ([{"speaker": "LOCUTOR"}], "script part 1.text", "empty"),
        ([{"speaker": "LOCUTOR", "text": "hola"}, {"cue": "MÚSICA"}], "script part 2.seconds", "seconds"),
        ([{"speaker": "LOCUTOR", "text": "hola"}, {"cue": "TAMBOR", "seconds": 2}], "script part 2.cue",
         "unknown cue"),
        ([{"speaker": "LOCUTOR", "text": "hola", "cue": "SFX"}], "script part 1", "either"),
        ([{"speaker": "LOCUTOR", "text": "hola", "voice": "x"}], "script part 1", "unknown field"),
        ([{"speaker": "", "text": "hola"}], "script part 1.speaker", "not a speaker"),
        ([{"speaker": "LOCUTOR", "text": "hola", "seconds": 3}], "script part 1.seconds", "only cues"),
        ([{"speaker": "LOCUTOR", "text": "hola"}, {"cue": "PAUSA", "seconds": -1}], "script part 2.seconds",
         "out of range"),
        ([{"cue": "MÚSICA", "seconds": 3}], "script", "at least one spoken line"),
        (["LOCUTOR: hola"], "script part 1", "mapping"),
    ],
)
def test_invalid_scripts_name_the_part_and_field(parts, field, reason):
    with pytest.raises(Invalid) as caught:
        validate_script(parts)
    assert caught.value.field == field
    assert reason in caught.value.reason


def test_rendering_uses_the_sms_variables():
    parts = render_script(RADIO_SCRIPT_ES, VARIABLES)
    spoken = [p.text for p in parts if not p.is_cue]
    assert spoken[-1] == "Repetimos: 1572. Te escuchamos. Red Sintética."
    assert [p.label for p in parts][:2] == ["MÚSICA", "LOCUTORA"]
    with pytest.raises(Invalid) as caught:
        render_script(RADIO_SCRIPT_ES, {"organizacion": "x"})
    assert caught.value.field == "script part 4.text" and "hotline_mujer" in caught.value.reason


def test_translation_without_script_reads_its_body():
    translation = SimpleNamespace(language="es", script=None, body="Llama al {{ hotline_mujer }}.")
    [part] = script_parts(translation, VARIABLES)
    assert (part.speaker, part.text) == ("LOCUTOR", "Llama al 1572.")


def _spot(script, slot=30):
    return SimpleNamespace(slot_seconds=slot), SimpleNamespace(language="es", script=script, body="")


def test_lint_accepts_a_good_spot():
    message, translation = _spot(RADIO_SCRIPT_ES)
    assert lint_radio(message, translation, syllables_per_second=4.4, variables=VARIABLES) == []


def test_lint_flags_a_spot_over_its_slot_and_a_tight_one():
    message, translation = _spot(RADIO_SCRIPT_ES, slot=15)
    codes = {i.code: i.level for i in lint_radio(message, translation, syllables_per_second=4.4,
                                                  variables=VARIABLES)}
    assert codes == {"radio-too-long": "error"}
    # The same spot read faster fits 20 s, but with less than the 2.5 s margin left.
    message, translation = _spot(RADIO_SCRIPT_ES, slot=20)
    estimate = estimate_seconds(render_script(RADIO_SCRIPT_ES, VARIABLES), syllables_per_second=5.2)
    assert 17.5 < estimate <= 20
    issues = lint_radio(message, translation, syllables_per_second=5.2, variables=VARIABLES)
    assert [(i.code, i.level) for i in issues] == [("radio-tight", "warning")]
    assert f"{estimate:.1f} s" in issues[0].message


def test_lint_wants_the_hotline_said_twice_and_a_slot():
    once = [{"speaker": "LOCUTOR", "text": "Llama al {{ hotline_mujer }}."}]
    message, translation = _spot(once, slot=None)
    codes = [i.code for i in lint_radio(message, translation, syllables_per_second=4.4, variables=VARIABLES)]
    assert codes == ["radio-slot", "radio-call-to-action"]
    broken = SimpleNamespace(language="es", script=[{"cue": "MÚSICA"}], body="")
    [issue] = lint_radio(SimpleNamespace(slot_seconds=30), broken, syllables_per_second=4.4)
    assert issue.level == "error" and "script part 1" in issue.message
