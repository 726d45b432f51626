"""SMS encoding and segment counting, against the provider's rules and a simple reference."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from messages.encoding import (
    GSM_BASIC,
    GSM_EXTENSION,
    analyze,
    apply_policy,
    split_segments,
)
from messages.rendering import normalize_text

EXTENSION = sorted(GSM_EXTENSION)


def reference(text: str) -> tuple[str, int, int]:
    """A deliberately simple per-character implementation of the provider's calculator."""
    gsm = all(c in GSM_BASIC or c in GSM_EXTENSION for c in text)
    if gsm:
        costs = [2 if c in GSM_EXTENSION else 1 for c in text]
        single, multi = 160, 153
    else:
        costs = [len(c.encode("utf-16-le")) // 2 for c in text]
        single, multi = 70, 67
    units = sum(costs)
    if units == 0:
        segments = 0
    elif units <= single:
        segments = 1
    else:
        segments, used = 1, 0
        for cost in costs:
            if used + cost > multi:
                segments, used = segments + 1, 0
            used += cost
    return ("GSM-7" if gsm else "UCS-2"), segments, units


@pytest.mark.parametrize(
    ("text", "encoding", "segments", "non_gsm"),
    [
        ("Hola, ¿necesitas ayuda? Llama al 110.", "GSM-7", 1, []),
        ("Niña, mamá: ¡ojo! Pingüino y Ñandú", "UCS-2", 1, ["á", "ú"]),
        ("Informacion util sin tildes " * 5, "GSM-7", 1, []),
        ("Información útil con tildes " * 3, "UCS-2", 2, ["ó", "ú"]),
        ("Ri k'ak'a' tzij chi rech ri ixoqib'", "GSM-7", 1, []),
        ("K’iche’ tzij", "UCS-2", 1, ["’"]),
        ("Ayuda 👍", "UCS-2", 1, ["👍"]),
        ("€" * 80, "GSM-7", 1, []),
        ("€" * 81, "GSM-7", 2, []),
        ("", "GSM-7", 0, []),
    ],
)
def test_corpus(text, encoding, segments, non_gsm):
    info = analyze(text)
    assert (info.encoding, info.segments, info.non_gsm) == (encoding, segments, non_gsm)
    assert reference(text)[:2] == (encoding, segments)


@pytest.mark.parametrize("char", EXTENSION)
def test_every_extension_character_at_the_gsm_boundaries(char):
    assert analyze("a" * 158 + char).segments == 1  # 160 septets
    assert analyze("a" * 159 + char).segments == 2  # 161 septets
    # an escape pair that would straddle septet 153/154 moves whole to the next segment
    text = "a" * 152 + char + "b" * 10
    parts = split_segments(text)
    assert parts == ["a" * 152, char + "b" * 10]
    assert analyze(text).units == 164
    # 76 escape pairs fill a 153-septet segment (152 used): 306 septets need 3 segments, not 2
    assert analyze(char * 152).segments == 2
    assert analyze(char * 153).segments == 3


@pytest.mark.parametrize("emoji", ["😀", "🚨", "👩"])
def test_surrogate_pairs_at_the_ucs2_boundaries(emoji):
    assert analyze("a" * 68 + emoji).segments == 1  # 70 units
    assert analyze("a" * 69 + emoji).segments == 2  # 71 units
    text = "a" * 66 + emoji + "b" * 5  # 73 units: the pair cannot take unit 67 and 68
    assert split_segments(text) == ["a" * 66, emoji + "b" * 5]
    # 33 pairs fill a 67-unit segment (66 used): 67 emoji (134 units) need 3 segments, not 2
    assert analyze(emoji * 66).segments == 2
    assert analyze(emoji * 67).segments == 3
    assert analyze(emoji * 34).units == 68


@pytest.mark.parametrize("apostrophe", ["’", "ʼ", "‘", "´", "`"])
def test_every_mayan_apostrophe_variant_becomes_gsm_after_normalization(apostrophe):
    raw = f"Utz awach. Chaq{apostrophe}ij ri a{apostrophe}n chi rech ri ixoqib{apostrophe}"
    assert analyze(raw).encoding == "UCS-2"
    normalized = normalize_text(raw)
    assert "'" in normalized and apostrophe not in normalized
    info = analyze(normalized)
    assert info.encoding == "GSM-7" and info.segments == 1


def test_nfd_input_is_composed_before_counting():
    decomposed = "Nin\u0303a"  # n + combining tilde
    assert analyze(decomposed).encoding == "UCS-2"
    assert analyze(normalize_text(decomposed)).encoding == "GSM-7"


def test_smart_policy_replaces_typographic_characters():
    info = apply_policy("“Hola” – ven… ¿sí?", "smart")
    assert info.text == '"Hola" - ven... ¿sí?'
    assert info.encoding == "UCS-2" and info.non_gsm == ["í"]
    assert apply_policy("“Hola” – ven…", "smart").encoding == "GSM-7"


def test_fold_only_when_it_lowers_the_segment_count():
    short = "Llame al número de ayuda"
    assert apply_policy(short, "fold").text == short  # 1 segment either way: accents kept
    long = "Información para usted: " + "ayuda gratuita y confidencial " * 3
    folded = apply_policy(long, "fold")
    assert analyze(long).segments == 2
    assert folded.segments == 1 and folded.encoding == "GSM-7" and "Informacion" in folded.text
    # an emoji keeps the text in UCS-2, so folding would not help and is not done
    assert "ó" in apply_policy(long + "👍", "fold").text


def test_unknown_policy_is_refused():
    from campaign.core.errors import Invalid

    with pytest.raises(Invalid, match="encoding"):
        apply_policy("hola", "loose")


gsm_text = st.text(alphabet=st.sampled_from(sorted(GSM_BASIC | GSM_EXTENSION)), max_size=500)
any_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(sorted(GSM_BASIC | GSM_EXTENSION)),
        st.sampled_from(list("áíóúÁÍÓÚ’ʼ“”…–😀🚨👍漢")),
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
    ),
    max_size=400,
)


@settings(max_examples=400, deadline=None)
@given(gsm_text)
def test_gsm_text_matches_reference(text):
    info = analyze(text)
    assert (info.encoding, info.segments, info.units) == reference(text)
    assert info.non_gsm == []


@settings(max_examples=400, deadline=None)
@given(any_text)
def test_any_text_matches_reference_and_splits_cleanly(text):
    info = analyze(text)
    assert (info.encoding, info.segments, info.units) == reference(text)
    assert info.characters == len(text)
    parts = split_segments(text)
    assert "".join(parts) == text
    assert len(parts) == info.segments
    if len(parts) > 1:
        for part in parts:
            assert reference(part)[2] <= (153 if info.encoding == "GSM-7" else 67)
    assert set(info.non_gsm) == {c for c in text if c not in GSM_BASIC and c not in GSM_EXTENSION}


@settings(max_examples=200, deadline=None)
@given(any_text)
def test_fold_never_costs_more_than_smart_and_reports_what_is_sent(text):
    smart, fold = apply_policy(text, "smart"), apply_policy(text, "fold")
    assert fold.segments <= smart.segments
    assert analyze(fold.text) == fold and analyze(smart.text) == smart
    if fold.text != smart.text:
        assert fold.segments < smart.segments
