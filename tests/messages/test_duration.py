"""Read-time estimates: syllables by vowel nuclei, and Spanish copy timed by the words-per-minute rule."""

from __future__ import annotations

import pytest

from campaign.core.languages import BUILTIN_LANGUAGES
from messages.duration import count_syllables, count_words, estimate_seconds, word_syllables
from messages.radio import ScriptPart

SPANISH_RATE = next(lang for lang in BUILTIN_LANGUAGES if lang.code == "es").syllables_per_second
WORDS_PER_SECOND = 70 / 30  # radio copy rule of thumb: about 70 words per 30 seconds


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("casa", 2), ("bueno", 2), ("ciudad", 2), ("hoy", 1), ("muy", 1), ("y", 1), ("ya", 1),
        ("león", 2), ("país", 2), ("río", 2), ("leer", 2), ("Guatemala", 4), ("violencia", 3),
        ("averiguáis", 4), ("pingüino", 3), ("queso", 2), ("trata", 2), ("Tecún", 2),
    ],
)
def test_spanish_syllables(word, expected):
    assert word_syllables(word) == expected


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("K'iche'", "quc", 2),          # the glottal stop separates, never adds a vowel
        ("ja'a'", "quc", 2),
        ("ch'aqaab'", "mam", 2),        # doubled vowel = one long vowel in Mayan orthography
        ("ch'aqaab'", "es", 3),         # ... but a hiatus under Spanish rules
        ("ixöq", "cak", 2),             # lax vowel with diaeresis
        ("ẍjal", "mam", 1),             # ẍ is a consonant
        ("tx'otx'", "mam", 1),
        ("K’iche’", "quc", 2),          # typographic apostrophes are the same glottal stop
        ("1572", "es", 7),              # digits read one by one: uno cinco siete dos
        ("110", "mam", 6),              # Spanish number names in every language: uno uno cero
    ],
)
def test_mayan_orthography_and_digits(text, language, expected):
    assert count_syllables(text, language=language) == expected


# Radio copy of different lengths; the expected read time is the words-per-minute rule alone.
SPANISH_SCRIPTS = [
    "Si te ofrecen trabajo lejos de tu comunidad, pregunta quién te contrata y cuánto te van a pagar.",
    "La deuda con el coyote nunca se acaba. Te quitan los papeles y te obligan a trabajar. "
    "Eso es trata de personas. Antes de salir, habla con tu familia y llama a la policía.",
    "Nadie tiene derecho a pegarte, a insultarte ni a quitarte tu dinero. Si vives violencia en tu "
    "casa, no estás sola. Busca a una persona de confianza, guarda tus documentos en un lugar seguro "
    "y llama a la línea de la mujer. La llamada es gratuita y confidencial, de día y de noche.",
    "Muchas niñas de nuestras comunidades se van a trabajar en casas de la capital. Algunas no "
    "reciben pago, no pueden salir y no pueden llamar a su familia. Eso no es trabajo, es explotación. "
    "Si conoces a una niña en esta situación, habla con alguien de confianza en tu comunidad y llama "
    "para pedir orientación. Las niñas tienen derecho a estudiar, a jugar y a vivir sin miedo. "
    "Protegerlas es tarea de todos: de la familia, de la escuela y de la comunidad entera.",
]


@pytest.mark.parametrize("text", SPANISH_SCRIPTS)
def test_spanish_estimates_match_the_words_per_minute_rule_within_ten_percent(text):
    expected = count_words(text) / WORDS_PER_SECOND
    parts = [ScriptPart(text=text, speaker="LOCUTOR")]
    estimate = estimate_seconds(parts, syllables_per_second=SPANISH_RATE, language="es")
    assert abs(estimate - expected) <= 0.10 * expected, (estimate, expected, count_words(text))


def test_cues_add_their_seconds_and_are_not_read():
    line = ScriptPart(text="Llama hoy.", speaker="LOCUTORA")
    with_cues = [
        ScriptPart(text="Marimba larga con muchas palabras", cue="MÚSICA", seconds=3),
        line,
        ScriptPart(text="", cue="PAUSA", seconds=1.5),
    ]
    alone = estimate_seconds([line], syllables_per_second=4.0)
    assert alone == pytest.approx(0.8)  # lla-ma hoy: 3 syllables / 4 per second, to 0.1 s
    assert estimate_seconds(with_cues, syllables_per_second=4.0) == pytest.approx(0.75 + 4.5, abs=0.05)


def test_a_slower_rate_gives_a_longer_estimate():
    parts = [{"speaker": "LOCUTOR", "text": SPANISH_SCRIPTS[1]}]
    fast = estimate_seconds(parts, syllables_per_second=5.0)
    slow = estimate_seconds(parts, syllables_per_second=4.0)
    assert slow == pytest.approx(fast * 5 / 4, rel=0.02)
    with pytest.raises(ValueError):
        estimate_seconds(parts, syllables_per_second=0)
