"""Triage is a pure function of (text, language, lexicon): table-driven."""

from __future__ import annotations

import pytest

from campaign.hotline.intents import (
    classify,
    classify_detail,
    compile_catalogue,
    normalize,
    pack_lexicon,
    triage,
)
from campaign.hotline.lexicon import compile_pattern, sound_key
from campaign.hotline.models import CasePriority, Intent
from messages.keywords import KeywordCatalogue, load_catalogue

PACK = pack_lexicon()
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
        ("ST\u200bOP", "stop"),  # a zero-width space inside STOP
        ("S T O P", "stop"),
        ("s.t.o.p", "stop"),
    ],
)
def test_normalize(text, normalized):
    assert normalize(text) == normalized


@pytest.mark.parametrize(
    ("a", "b"),
    [("nesesito", "necesito"), ("nececito", "necesito"), ("amenasa", "amenaza"), ("kiero", "quiero"),
     ("yamar", "llamar"), ("ablar", "hablar"), ("biolencia", "violencia"), ("ausilio", "auxilio")],
)
def test_sound_keys_let_common_misspellings_meet(a, b):
    assert sound_key(a) == sound_key(b)


# The STOP variants of issue 11, each an opt-out on its own.
STOP_AS_PEOPLE_WRITE_IT = [
    "STOP STOP", "Baja baja", "por favor, STOP", "Por favor baja", "STOP ALL", "ok stop", "No más mensajes",
    "ya no quiero mensajes", "no quiero recibir mensajes", "darme de baja", "alto, no me manden más",
    "S T O P", "ST\u200bOP",
]


@pytest.mark.parametrize("text", STOP_AS_PEOPLE_WRITE_IT)
def test_stop_as_people_write_it_is_an_opt_out(text):
    result = triage(text, "es", PACK)
    assert result.intent == Intent.OPT_OUT, result
    assert result.keyword and not result.opt_out_question


@pytest.mark.parametrize("text", STOP_AS_PEOPLE_WRITE_IT)
def test_a_danger_cue_makes_any_stop_urgent_and_keeps_the_question(text):
    result = triage(f"{text} mi esposo me pega si ve esto", "es", PACK)
    assert result.intent == Intent.URGENT and result.priority == CasePriority.URGENT
    assert result.opt_out_question  # staff confirm the opt-out; the contact stays muted meanwhile


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        # what the issue says today's triage missed
        ("me están pegando", Intent.URGENT),
        ("mi pareja me golpeó", Intent.URGENT),
        ("me quitaron el DPI y no me dejan ir", Intent.URGENT),
        ("mi hija no ha regresado", Intent.URGENT),
        ("necesito ayuda", Intent.HELP),
        # misspellings and SMS spellings
        ("nesesito ayuda", Intent.HELP),
        ("ayudenme", Intent.HELP),
        ("toy encerrada", Intent.URGENT),
        ("xfa ayuda q me pegan", Intent.URGENT),
        ("porfa ayudenme me kieren matar", Intent.URGENT),
        ("m estan pegando", Intent.URGENT),
        ("me tiene amenasada", Intent.URGENT),
        ("AYUDAAA", Intent.URGENT),  # cried out
        ("ayuda urgente", Intent.URGENT),
        # stems: every form, about a person
        ("me golpio anoche", Intent.URGENT),
        ("le pegaron a mi mamá", Intent.URGENT),
        ("pegarme no es justo", Intent.URGENT),
        ("nos amenazaron de muerte", Intent.URGENT),
        ("la encerraron en un cuarto", Intent.URGENT),
        ("secuestraron a mi hermano", Intent.URGENT),
        ("me obligan a trabajar", Intent.URGENT),
        ("me violaron", Intent.URGENT),
        ("me quiere matar", Intent.URGENT),
        # the same stems, not about a person
        ("compré pegamento", Intent.REPLY),
        ("mi hijo tiene examen de matemáticas", Intent.REPLY),
        ("la reunión no era obligatoria", Intent.REPLY),
        ("se me pegó la gripe", Intent.REPLY),
        ("la mata de limón se secó", Intent.REPLY),
        ("me toca trabajar el sábado", Intent.REPLY),
        ("pegan", Intent.REPLY),
        # partners, third parties, minors
        ("el papá de mis hijos me amenazó", Intent.URGENT),
        ("mi conviviente me quemó con la plancha", Intent.URGENT),
        ("a mi vecina la están golpeando", Intent.URGENT),
        ("mi nena no ha vuelto de la escuela", Intent.URGENT),
        ("un señor le pide fotos a mi hija de 13", Intent.URGENT),
        ("mi perro se perdió", Intent.REPLY),  # missing, but not a person
        # negation: doubt goes to a person (help), not to a plain reply
        ("no me pega", Intent.HELP),
        ("mi esposo nunca me ha golpeado pero me grita", Intent.HELP),
        ("no me pega pero me amenaza", Intent.URGENT),
        ("no quiero que me pegue más", Intent.URGENT),
        ("no, me están pegando", Intent.URGENT),  # the comma ends the negation
        ("no más golpes por favor", Intent.URGENT),
        ("no tengo miedo", Intent.HELP),
        # help, opt-in, replies
        ("AYUDA", Intent.HELP),
        ("info", Intent.HELP),
        ("¿dónde queda la oficina más cercana?", Intent.HELP),
        ("me pueden llamar?", Intent.HELP),
        ("hola quiero saber más", Intent.HELP),
        ("Auxilio", Intent.URGENT),
        ("ayuda estoy en peligro", Intent.URGENT),  # urgent beats help
        ("ALTA", Intent.OPT_IN),
        ("INICIO", Intent.OPT_IN),
        ("quiero volver a recibir mensajes", Intent.OPT_IN),
        ("gracias por la información", Intent.REPLY),
        ("¿Quién me manda este mensaje?", Intent.REPLY),
        ("", Intent.REPLY),
        ("   ", Intent.REPLY),
        ("salir de aqui", Intent.REPLY),  # "salir" is an opt-out only as the whole message
        ("Cancelar por favor", Intent.OPT_OUT),
        ("BAJA", Intent.OPT_OUT),
        ("Áltoo!!", Intent.OPT_OUT),
        ("he hits me", Intent.URGENT),
        ("they took my passport", Intent.URGENT),
    ],
)
def test_triage_with_the_pack(text, intent):
    assert classify(text, "es", PACK) == intent, triage(text, "es", PACK)


def test_cues_say_why():
    result = triage("mi esposo no me pega pero me amenaza con quitarme a los niños", "es", PACK)
    assert result.intent == Intent.URGENT
    assert "danger:me amenaza" in result.cues
    assert "negated:esposo no me pega" in result.cues
    assert "partner:mi esposo" in result.cues
    assert triage("hola", "es", PACK).cues == ()


@pytest.mark.parametrize(
    ("intent", "priority"),
    [("me pegan", CasePriority.URGENT), ("necesito ayuda", CasePriority.HIGH), ("hola", CasePriority.NORMAL),
     ("STOP", CasePriority.NORMAL), ("ALTA", CasePriority.NORMAL)],
)
def test_priority_follows_intent(intent, priority):
    assert triage(intent, "es", PACK).priority == priority


@pytest.mark.parametrize("text", ["si", "Sí", "sii", "si, gracias", "claro que sí"])
def test_a_bare_yes_is_a_reply_flagged_as_affirmation(text):
    result = triage(text, "es", PACK)
    assert result.intent == Intent.REPLY and result.affirmation


@pytest.mark.parametrize("text", ["no me interesa, quién les dio mi número?", "número equivocado",
                                  "gracias pero STOP con eso del trabajo"])
def test_an_unclear_wish_to_stop_is_a_reply_with_a_question_for_staff(text):
    result = triage(text, "es", PACK)
    assert result.intent != Intent.OPT_OUT and result.opt_out_question, result


def test_help_next_to_stop_is_help_with_the_question():
    result = triage("STOP. necesito ayuda", "es", PACK)
    assert result.intent == Intent.HELP and result.opt_out_question


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
    catalogue = KeywordCatalogue(
        {"kek": {"opt_in": ["Ab'an"], "opt_out": ["Xaqab'"]}}, {"kek": "needs_review"}
    )
    assert classify("Ab'an", "kek", catalogue) == Intent.REPLY
    assert classify("Xaqab'", "kek", catalogue) == Intent.OPT_OUT


def test_detail_names_the_keyword():
    assert classify_detail("Baja por favor", "es", PACK).keyword == "baja"
    assert classify_detail("Áltoo!!", "es", PACK).keyword == "alto"
    assert classify_detail("hola", "es", PACK).keyword is None


def test_the_pack_lexicon_compiles_and_a_bad_pattern_is_named():
    assert load_catalogue().triage["es"]["danger"]
    with pytest.raises(ValueError, match="cannot read pattern"):
        compile_pattern("(golpe- ")
    pattern = compile_pattern("me (quier-|van a) llevar")
    assert pattern.spans(PACK.tokenize("porfa me van a llevar")) == [(2, 6)]


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        # a cue said to have stopped is doubt, for a person (help); "ya no aguanto" is not a stop
        ("me pegaba pero ya no, igual quiero hablar con alguien", Intent.HELP),
        ("mi esposo me amenazaba, ya no", Intent.HELP),
        ("me pega y ya no aguanto", Intent.URGENT),
        ("me pegaba pero ya no, ahora me quiere matar", Intent.URGENT),
        # harm and despair in other words
        ("un tipo dice que me va a hacer daño", Intent.URGENT),
        ("quiero morirme", Intent.URGENT),
        # missing people, minors, forced labour, written as people write
        ("no encuentro a mi hija desde ayer", Intent.URGENT),
        ("a la patoja de 14 la quieren juntar con un señor", Intent.URGENT),
        ("nos tienen a varios sin pagar en la finca", Intent.URGENT),
        ("piden rescate x mi hermano", Intent.URGENT),
        # not danger: verbal ill-treatment is control (help), an animal bite and a laugh are replies
        ("a mi prima la maltratan con palabras", Intent.HELP),
        ("el perro de mi vecina me mordio jaja", Intent.REPLY),
        ("me mato la risa el mensaje", Intent.REPLY),
        ("como la puedo proteger", Intent.HELP),
        ("cancelen los mensajes", Intent.OPT_OUT),
    ],
)
def test_generalization_rules(text, intent):
    assert triage(text, "es", PACK).intent == intent
