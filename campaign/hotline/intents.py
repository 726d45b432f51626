"""Triage of an inbound SMS: who is in danger, who asks for help, who wants to stop. Pure.

`triage(text, language, lexicon)` takes values and returns a `Triage`: the intent, the inbox
priority and the cues that decided it (no session, no clock). The lexicon is the content pack's
(`messages/packs/<pack>/_keywords.yaml`, compiled by campaign/hotline/lexicon.py, which also
says how text is normalized so that "nesesito", "toy", "xfa" and "S T O P" are understood).

What wins over what:
1. Danger wins. A danger cue (someone hurt, threatened, held, forced, abused, missing, in fear;
   the writer or someone else, a minor or an adult) makes the message `urgent`: never an opt-out,
   never a plain reply, even next to STOP.
2. Doubt goes to a person. A danger cue that is negated ("no me pega", "nunca me ha golpeado")
   or said to have stopped ("me pegaba, pero ya no"),
   control without violence ("me grita", "no me deja trabajar"), or a request for help,
   information, orientation or a call makes it `help` (high priority); `help` with an urgency
   word ("ayuda urgente") or cried out ("AYUDAAA", "ayuda ayuda") is `urgent`.
3. Only then opt-out: STOP as people write it (the whole message, repeated or with courtesy
   words, "STOP ALL", "por favor, STOP", "ya no quiero mensajes", "darme de baja"), then explicit
   opt-in (ALTA, INICIO, START, "quiero volver a recibir mensajes"), else `reply`.
An opt-out signal that loses to danger or help, or that is unclear ("no me interesa"), sets
`opt_out_question`: the contact stays muted until staff confirm (campaign/hotline/responses.py).
A bare "sí" is a reply with `affirmation`; it re-subscribes only as the answer to our question,
which the caller knows and this function does not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from campaign.hotline.lexicon import Lexicon, Pattern, Tokens, compile_lexicon
from campaign.hotline.lexicon import normalize as normalize
from campaign.hotline.models import CasePriority, Intent

# Compatibility: the compiled catalogue used to be called a keyword table.
KeywordTable = Lexicon

# Words every deployment understands, whatever the pack says (carrier-standard words, and the
# few cries for help no pack may forget).
BASE_KEYWORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "es": {
        "opt_out": ("stop", "alto", "baja", "cancelar", "no mas", "salir", "parar", "unsubscribe",
                    "stopall"),
        "opt_in": ("inicio", "start", "alta", "unstop"),
        "help": ("ayuda", "info", "help"),
        "urgent": ("auxilio", "peligro", "socorro", "me pegan", "me tienen encerrada",
                   "me tienen encerrado", "emergencia"),
    },
}

PRIORITY: dict[Intent, CasePriority] = {
    Intent.URGENT: CasePriority.URGENT,
    Intent.HELP: CasePriority.HIGH,
}

# What may follow a verb stem of `danger_person` (as sound keys): its endings, so that "pegan",
# "pegaron", "pegandome" count and "pegamento", "matematicas", "obligatorio" do not.
VERB_ENDINGS = frozenset(
    "a as an o e es en ar er ir ando iendo aron ieron io aba abas aban ado ada ados adas ara aras "
    "aran aria arian are aste amos ia ian ido ida i ase asen eo ea ean earon eando".split()
)
PERSON_DETERMINERS = frozenset({"mi", "mis", "su", "sus", "un", "una", "tu", "nuestra", "nuestro"})
NEAR_WORDS = 5  # a held item this close to a taking verb ("me quitaron el DPI")
# "me pegaba, pero ya no": words (sound keys) that may link a cue to a "ya no" saying it stopped,
# and those that may follow that "ya no" (else it is "ya no aguanto": not a negation).
STOPPED_LINKS = frozenset({"pero", "i", "aora", "pues"})
STOPPED_AFTER = frozenset({"pero", "igual", "i", "grasias", "aora"})


@dataclass(frozen=True)
class Triage:
    """The decision on one message: intent, inbox priority and the cues found ("kind:words")."""

    intent: Intent
    priority: CasePriority = CasePriority.NORMAL
    cues: tuple[str, ...] = ()
    keyword: str | None = None  # the opt-out / opt-in word that decided (recorded on consent)
    opt_out_question: bool = False  # a wish to stop that a person must confirm
    affirmation: bool = False  # a bare yes

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of `campaign inbox classify --json`."""
        return {"intent": str(self.intent), "priority": str(self.priority), "cues": list(self.cues)}


# Compatibility with callers of the keyword classifier.
Classification = Triage


@dataclass
class _Scan:
    """The cues found in one message, before the decision."""

    tokens: Tokens
    lexicon: Lexicon
    danger: list[tuple[str, tuple[int, int]]]
    negated: list[str]
    cues: list[str]

    def words(self, span: tuple[int, int]) -> str:
        return self.tokens.text(span)


def _spans(patterns: Iterable[Pattern], tokens: Tokens) -> list[tuple[int, int]]:
    return [span for p in patterns for span in p.spans(tokens)]


def _covered(span: tuple[int, int], covers: list[tuple[int, int]]) -> bool:
    return any(a <= span[0] and span[1] <= b for a, b in covers)


def _overlaps(span: tuple[int, int], others: list[tuple[int, int]]) -> bool:
    return any(span[0] < b and a < span[1] for a, b in others)


def _outermost(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The spans not inside another one, in order (one cue for "quiero saber mas")."""
    unique = sorted(set(spans))
    return [s for s in unique if not any(o != s and o[0] <= s[0] and s[1] <= o[1] for o in unique)]


def _negated(start: int, tokens: Tokens, lexicon: Lexicon) -> bool:
    """True when a negator precedes word `start` in its clause, with only object pronouns and
    auxiliaries between ("no me pega", "nunca me ha golpeado"; not "no quiero que me pegue")."""
    negators = lexicon.word_set("negators")
    skip = lexicon.word_set("clitics") | lexicon.word_set("auxiliaries")
    j = start - 1
    while j >= 0 and start - j <= 5 and (j + 1) not in tokens.breaks:
        key = tokens.keys[j]
        if key in negators:
            return True
        if key not in skip:
            return False
        j -= 1
    return False


def _stopped(end: int, tokens: Tokens) -> bool:
    """True when the words right after a cue say it has stopped: "me pegaba pero ya no", "me
    amenazaba, ya no" (then it is doubt, for a person: help). Not "... y ya no aguanto"."""
    keys, j = tokens.keys, end
    while j < len(keys) and j - end < 2 and keys[j] in STOPPED_LINKS:
        j += 1
    if keys[j:j + 2] != ("ya", "no"):
        return False
    after = j + 2
    return after == len(keys) or after in tokens.breaks or keys[after] in STOPPED_AFTER


def _person_verb(i: int, tokens: Tokens, lexicon: Lexicon) -> int | None:
    """For a word that is a danger_person verb about a person, the index where its mention starts
    (the object pronoun before it, or the word itself); None otherwise."""
    key = tokens.keys[i]
    stem = lexicon.person_stem(key)
    if stem is None:
        return None
    rest = key[len(stem):]
    clitics = lexicon.word_set("clitics")
    enclitic = next((c for c in clitics if rest.endswith(c) and rest[: -len(c)] in VERB_ENDINGS - {""}), None)
    if rest not in VERB_ENDINGS and enclitic is None:
        return None
    if enclitic is not None:
        return i
    auxiliaries = lexicon.word_set("auxiliaries")
    j = i - 1
    while j >= 0 and i - j <= 4 and (j + 1) not in tokens.breaks:
        if tokens.keys[j] in clitics:
            return j
        if tokens.keys[j] not in auxiliaries:
            break
        j -= 1
    after = tokens.keys[i + 1:i + 3]
    if len(after) == 2 and after[0] == "a" and after[1] in PERSON_DETERMINERS:
        return i  # "le pega a mi mamá", "mataron a un señor"
    return None


def _scan_danger(tokens: Tokens, lexicon: Lexicon) -> _Scan:
    scan = _Scan(tokens, lexicon, [], [], [])
    found: list[tuple[str, tuple[int, int]]] = []
    found += [("danger", span) for span in lexicon.spans("danger", tokens)]
    for i in range(len(tokens.keys)):
        start = _person_verb(i, tokens, lexicon)
        if start is not None:
            found.append(("danger", (start, i + 1)))
    minors = lexicon.spans("minors", tokens)
    people = minors + lexicon.spans("people", tokens) + lexicon.spans("partners", tokens)
    if people:
        found += [("missing", span) for span in lexicon.spans("missing", tokens)]
    if minors:
        found += [("with_minor", span) for span in lexicon.spans("with_minor", tokens)]
    verbs = lexicon.spans("held_verbs", tokens)
    items = lexicon.spans("held_items", tokens)
    for verb in verbs:
        item = next((it for it in items if abs(it[0] - verb[0]) <= NEAR_WORDS and it != verb), None)
        if item is not None:
            found.append(("held", (min(verb[0], item[0]), max(verb[1], item[1]))))
    not_danger = lexicon.spans("not_danger", tokens)
    seen: set[str] = set()
    for kind, span in sorted(found, key=lambda f: f[1]):
        if _overlaps(span, not_danger):
            continue
        cue = f"{kind}:{scan.words(span)}"
        if _negated(span[0], tokens, lexicon) or _stopped(span[1], tokens):
            cue = f"negated:{scan.words((max(0, span[0] - 2), span[1]))}"
            if cue not in seen:
                scan.negated.append(cue)
        elif cue not in seen:
            scan.danger.append((cue, span))
        seen.add(cue)
    for name in ("partners", "minors"):
        for span in _spans(lexicon.category(name), tokens):
            scan.cues.append(f"{name[:-1]}:{scan.words(span)}")
    return scan


def _whole(tokens: Tokens, words: frozenset[str], fillers: frozenset[str]) -> str | None:
    """The keyword (as written) when the message is nothing but `words`, maybe repeated, and
    fillers ("Baja baja", "por favor, STOP", "STOP ALL")."""
    keys = tokens.keys
    if not keys:
        return None
    core = [i for i, k in enumerate(keys) if k not in fillers]
    if not core:
        return None
    first, last = core[0], core[-1] + 1
    for a in range(first + 1):  # "por favor ya no", "ya no, gracias": fillers only around it
        for b in range(len(keys), last - 1, -1):
            if " ".join(keys[a:b]) in words:
                return tokens.text((a, b))
    if " ".join(keys[i] for i in core) in words:
        return " ".join(tokens.text((i, i + 1)) for i in core)
    if all(keys[i] in words for i in core):
        return tokens.text((core[0], core[0] + 1))
    return None


def _opt_out(tokens: Tokens, lexicon: Lexicon) -> tuple[str | None, str | None]:
    """(clear opt-out keyword, unclear opt-out cue), as written; either may be None."""
    keys, fillers = tokens.keys, lexicon.word_set("fillers")
    leading = lexicon.word_set("opt_out_leading")
    keyword = _whole(tokens, lexicon.word_set("opt_out_words"), fillers)
    if keyword:
        return keyword, None
    phrase = lexicon.first("opt_out_phrases", tokens)
    if phrase is not None:
        return tokens.text(phrase), None
    core = [i for i, k in enumerate(keys) if k not in fillers]
    for i in (core[:1] + core[-1:]) if core else []:
        if keys[i] in leading:
            return tokens.text((i, i + 1)), None
    unclear = lexicon.spans("opt_out_unclear", tokens)
    if unclear:
        return None, tokens.text(unclear[0])
    embedded = next((i for i, k in enumerate(keys) if k in leading), None)
    return None, (tokens.text((embedded, embedded + 1)) if embedded is not None else None)


def _opt_in(tokens: Tokens, lexicon: Lexicon, language: str | None) -> str | None:
    mine: frozenset[str] = frozenset()
    for code in dict.fromkeys([language or "es", "es"]):
        mine |= lexicon.opt_in_by_language.get(code, frozenset())
    keyword = _whole(tokens, mine, lexicon.word_set("fillers"))
    if keyword:
        return keyword
    phrase = lexicon.first("opt_in_phrases", tokens)
    return tokens.text(phrase) if phrase is not None else None


def triage(text: str, language: str | None, lexicon: Lexicon) -> Triage:
    """The intent, priority and cues of one inbound text from a contact speaking `language`
    (None = unknown). See the module docstring for what wins over what."""
    tokens = lexicon.tokenize(text or "")
    if not tokens.keys:
        return Triage(Intent.REPLY)
    scan = _scan_danger(tokens, lexicon)
    cues = [cue for cue, _ in scan.danger] + scan.negated
    control = lexicon.spans("control", tokens)
    cues += [f"control:{scan.words(span)}" for span in control]
    not_help = lexicon.spans("not_help", tokens)
    helps = [s for s in lexicon.spans("help", tokens) if not _covered(s, not_help)]
    cues += [f"help:{scan.words(span)}" for span in _outermost(helps)]
    urgency = lexicon.spans("urgency", tokens) if helps else []
    urgency += [s for s in helps if any(i in tokens.stretched for i in range(*s))]
    repeated = [s for s in helps if s[1] - s[0] == 1 and tokens.keys.count(tokens.keys[s[0]]) > 1]
    urgency += repeated[1:]  # "ayuda ayuda ayuda": a cry, not a question
    cues += list(dict.fromkeys(f"urgency:{scan.words(span)}" for span in urgency))
    opt_out, unclear = _opt_out(tokens, lexicon)
    if scan.danger or (helps and urgency):
        intent = Intent.URGENT
    elif scan.negated or control or helps:
        intent = Intent.HELP
    elif opt_out:
        intent = Intent.OPT_OUT
    else:
        intent = Intent.REPLY
    keyword = opt_out if intent == Intent.OPT_OUT else None
    affirmation = False
    if intent == Intent.REPLY:
        keyword = _opt_in(tokens, lexicon, language)
        if keyword and not unclear:
            intent = Intent.OPT_IN
            cues.append(f"opt_in:{keyword}")
        else:
            keyword = None
            yes = _whole(tokens, lexicon.word_set("affirmations"), lexicon.word_set("fillers"))
            affirmation = yes is not None
            if affirmation:
                cues.append(f"affirmation:{tokens.text((0, len(tokens.keys)))}")
    if opt_out:
        cues.append(f"opt_out:{opt_out}")
    elif unclear:
        cues.append(f"unclear_opt_out:{unclear}")
    question = bool(opt_out or unclear) and intent != Intent.OPT_OUT
    cues += scan.cues
    return Triage(
        intent, PRIORITY.get(intent, CasePriority.NORMAL), tuple(dict.fromkeys(cues)), keyword,
        question, affirmation,
    )


def compile_catalogue(catalogue: Any = None, *, include_base: bool = True) -> Lexicon:
    """Compiles a keyword catalogue (messages.keywords.KeywordCatalogue, or a plain mapping
    language -> intent -> words) plus BASE_KEYWORDS into a Lexicon for `triage`."""
    if isinstance(catalogue, Lexicon):
        return catalogue
    return compile_lexicon(catalogue, base=BASE_KEYWORDS if include_base else None)


@lru_cache(maxsize=4)
def pack_lexicon(pack_dir: str | None = None) -> Lexicon:
    """The compiled lexicon of a content pack (default: the shipped pack), cached per process."""
    from messages.keywords import load_catalogue

    return compile_catalogue(load_catalogue(pack_dir))


def classify_detail(text: str, language: str | None, catalogue: Any) -> Triage:
    """`triage` with a catalogue in any form `compile_catalogue` takes (compile once for speed)."""
    return triage(text, language, compile_catalogue(catalogue))


def classify(text: str, language: str | None, catalogue: Any) -> Intent:
    """The intent of an inbound text for a contact speaking `language` (None = unknown)."""
    return classify_detail(text, language, catalogue).intent
