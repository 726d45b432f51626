"""Intent classification is a pure function of (text, language, catalogue): table-driven."""

from __future__ import annotations

import pytest

from campaign.hotline.intents import classify, classify_detail, compile_catalogue, normalize
from campaign.hotline.models import Intent
from messages.keywords import load_catalogue

PACK = compile_catalogue(load_catalogue())
MAYAN = compile_catalogue(
    {
        "quc": {"opt_out": ["Mixkʼis"], "urgent": ["Kinkoch'"], "help": ["Toq'ob'"]},
        "mam": {"opt_in": ["Ja'"]},
    }
)


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("Áltoo!!", "alto"),
        ("  NO   MÁS.. ", "no mas"),
        ("¡¡AYUDAAA!!", "ayuda"),
        ("K’iche’", "kiche"),
        ("me   pegan!!!", "me pegan"),
    ],
)
def test_normalize(text, normalized):
    assert normalize(text) == normalized


@pytest.mark.parametrize(
    ("text", "language", "intent"),
    [
        ("STOP", "es", Intent.OPT_OUT),
        ("stop", None, Intent.OPT_OUT),
        ("Áltoo!!", "es", Intent.OPT_OUT),
        ("BAJA", "quc", Intent.OPT_OUT),  # a Spanish STOP word stops a K'iche' speaker too
        ("no más", "es", Intent.OPT_OUT),
        ("NO MAS", "es", Intent.OPT_OUT),
        ("Cancelar por favor", "es", Intent.OPT_OUT),
        ("salir de aqui", "es", Intent.REPLY),  # not a whole-message keyword: a person must read it
        ("no más golpes por favor", "es", Intent.REPLY),
        ("AYUDA", "es", Intent.HELP),
        ("info", "kek", Intent.HELP),
        ("Auxilio", "es", Intent.URGENT),
        ("por favor me pegan mucho", "es", Intent.URGENT),
        ("me tienen encerrada en la casa", "es", Intent.URGENT),
        ("ayuda estoy en peligro", "es", Intent.URGENT),  # urgent beats help
        ("SI", "es", Intent.OPT_IN),
        ("Sí", "es", Intent.OPT_IN),
        ("INICIO", "es", Intent.OPT_IN),
        ("si, gracias", "es", Intent.OPT_IN),
        ("hola quiero saber más", "es", Intent.REPLY),
        ("", "es", Intent.REPLY),
        ("   ", "es", Intent.REPLY),
        ("pegan", "es", Intent.REPLY),  # part of a phrase is not the phrase
    ],
)
def test_classify_with_pack(text, language, intent):
    assert classify(text, language, PACK) == intent


@pytest.mark.parametrize(
    ("text", "language", "intent"),
    [
        ("MIXK'IS", "quc", Intent.OPT_OUT),
        ("mixkʼiss!", "es", Intent.OPT_OUT),  # opt-out words of every language count
        ("kinkoch'", "quc", Intent.URGENT),
        ("toqob", "quc", Intent.HELP),
        ("Ja'", "mam", Intent.OPT_IN),
        ("Ja'", "es", Intent.REPLY),  # opt-in words only in the contact's own language (or Spanish)
    ],
)
def test_classify_with_mayan_keywords(text, language, intent):
    assert classify(text, language, MAYAN) == intent


def test_unreviewed_opt_in_words_do_not_count_but_opt_out_words_do():
    from messages.keywords import KeywordCatalogue

    catalogue = KeywordCatalogue(
        {"kek": {"opt_in": ["Ab'an"], "opt_out": ["Xaqab'"]}}, {"kek": "needs_review"}
    )
    assert classify("Ab'an", "kek", catalogue) == Intent.REPLY
    assert classify("Xaqab'", "kek", catalogue) == Intent.OPT_OUT


def test_detail_names_the_keyword():
    assert classify_detail("Baja por favor", "es", PACK).keyword == "baja"
    assert classify_detail("hola", "es", PACK).keyword is None
