"""Content lint: every check a message must pass before it reaches thousands of phones.

Pure: `lint_specs` takes message specs (from a pack or the database), the keyword catalogue, the
deployment's default variables and sensitive words, and returns findings. Errors block (exit 1);
warnings inform (exit 0); info is only shown in JSON.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

from campaign.core.errors import AppError, Invalid
from campaign.core.i18n import _
from campaign.core.languages import LanguageRegistry
from messages.encoding import UCS2, apply_policy
from messages.keywords import KeywordCatalogue, catalogue_problems
from messages.packs import MessageSpec, TranslationSpec
from messages.radio import is_hotline_variable
from messages.rendering import render, sample_context, template_variables

# Audiences the Defensoría de la Mujer Indígena line (linea_maya, 1524) serves: indigenous women.
LINEA_MAYA_AUDIENCES = frozenset({"single_mother_households", "indigenous_language_speakers"})
# Words that make a sentence a question or a check, not an emergency (the police line is for emergencies).
NOT_AN_EMERGENCY = ("duda", "consult", "pregunt", "informac", "orientac", "verific", "asesor")
_POLICE = re.compile(r"\{\{\s*policia\b")
_NAME = re.compile(r"contact\.name|first_name")
SYSTEM_SLUGS = ("respuesta-baja", "respuesta-alta", "respuesta-ayuda", "respuesta-urgente")
LEVELS = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    """One lint result; `code` is stable (tests and scripts match on it)."""

    level: str
    slug: str
    language: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def contains_stem(text: str, stem: str) -> bool:
    """A word starting with `stem` ("golpe" finds "golpean"), case- and accent-insensitive."""
    return re.search(r"(?<!\w)" + re.escape(_fold(stem)), _fold(text)) is not None


def contains_word(text: str, word: str) -> bool:
    """Whole-word (or whole-phrase) match, case- and accent-insensitive."""
    pattern = r"(?<!\w)" + re.escape(_fold(word)) + r"(?!\w)"
    return re.search(pattern, _fold(text)) is not None


def lint_specs(
    specs: Iterable[MessageSpec],
    *,
    catalogue: KeywordCatalogue,
    defaults: Mapping[str, str],
    sensitive_words: Sequence[str],
    registry: LanguageRegistry,
) -> list[Finding]:
    """Every finding for these messages, errors first, then by slug and language."""
    findings: list[Finding] = []
    specs = list(specs)
    for lang, problem_level_text in [(p[1], p) for p in catalogue_problems(catalogue)]:
        level, _lang, text = problem_level_text
        findings.append(Finding(level, "_keywords", lang, "keywords", text))
    slugs = {s.slug for s in specs}
    for slug in SYSTEM_SLUGS:
        if slug not in slugs:
            findings.append(Finding("warning", slug, "", "system-missing",
                                    _("system auto-reply message missing: replies fall back to a default")))
    numbers = {v for v in defaults.values() if v and str(v).isdigit()}
    for spec in specs:
        source = spec.translations.get("es")
        if source is None:
            findings.append(Finding("warning", spec.slug, "es", "no-spanish", _("no Spanish translation")))
        elif source.status != "approved":
            findings.append(Finding("warning", spec.slug, "es", "spanish-not-approved",
                                    _("Spanish is %(status)s: the message cannot be sent yet",
                                      status=source.status)))
        for translation in spec.translations.values():
            findings.extend(
                _lint_translation(spec, translation, catalogue=catalogue, defaults=defaults,
                                  sensitive_words=sensitive_words, registry=registry, numbers=numbers)
            )
    order = {level: i for i, level in enumerate(LEVELS)}
    return sorted(findings, key=lambda f: (order[f.level], f.slug, f.language, f.code))


def _lint_translation(
    spec: MessageSpec,
    t: TranslationSpec,
    *,
    catalogue: KeywordCatalogue,
    defaults: Mapping[str, str],
    sensitive_words: Sequence[str],
    registry: LanguageRegistry,
    numbers: set[str],
) -> list[Finding]:
    out: list[Finding] = []

    def add(level: str, code: str, text: str) -> None:
        out.append(Finding(level, spec.slug, t.language, code, text))

    texts = [str(p.get("text", "")) for p in t.script] if t.script else [t.body]
    try:
        used = set().union(*(template_variables(x) for x in texts))
    except Invalid as exc:
        add("error", "template", exc.reason)
        return out
    declared = set(spec.variables)
    if used != declared:
        add("error", "variables", _("uses %(used)s but the message declares %(declared)s",
                                    used=sorted(used), declared=sorted(declared)))
    if "help" in spec.safety_flags and not any(is_hotline_variable(v) for v in used):
        add("error", "no-hotline", _("a help message must give a hotline number variable "
                                     "(policia, hotline_mujer, linea_maya)"))
    for number in sorted(numbers):
        if any(re.search(rf"(?<!\d){re.escape(number)}(?!\d)", x) for x in texts):
            add("error", "hardcoded-number", _("number %(number)s written in the body: use its variable",
                                                number=number))
    try:
        language = registry.get(t.language)
    except Invalid:
        add("error", "language", _("unknown language %(lang)s", lang=repr(t.language)))
        return out
    context = sample_context(defaults, used)
    if spec.is_radio:
        out.extend(_lint_radio(spec, t, context, language.syllables_per_second))
        rendered = " ".join(texts)
    else:
        try:
            rendered = render(t.body, context)
        except Invalid as exc:
            add("error", "render", exc.reason)
            return out
    if "sms" in spec.channels and not spec.is_radio:
        _lint_sms(spec, rendered, language.encoding_policy, add)
    if "first_contact" in spec.safety_flags:
        words = catalogue.keywords(t.language, "opt_out") + catalogue.keywords("es", "opt_out")
        if not any(contains_word(rendered, w) for w in words):
            add("error", "no-opt-out", _("a first-contact message must say how to stop (e.g. %(words)s)",
                                         words=", ".join(words[:3]) or "BAJA"))
    if spec.slug == "respuesta-baja":
        words = catalogue.keywords(t.language, "opt_in") + catalogue.keywords("es", "opt_in")
        if not any(contains_word(rendered, w) for w in words):
            add("error", "no-opt-in", _("the opt-out confirmation must say how to opt back in"))
    hits = [w for w in sensitive_words if contains_stem(rendered, w)]
    names = "contact" in used and any(_NAME.search(x) for x in texts)
    if "discreet" in spec.safety_flags:
        if hits:
            add("error", "sensitive-word", _("discreet message contains %(words)s", words=", ".join(hits)))
        if names:
            add("error", "discreet-name",
                _("a discreet message never names the person (someone else may read it)"))
    elif names and hits and not spec.is_radio:
        add("error", "name-with-sensitive",
            _("the person's name next to %(words)s: on a shared phone it says who it is about",
              words=", ".join(hits)))
    _lint_referrals(spec, texts, used, add)
    _lint_whatsapp(spec, t, add)
    if t.source_changed:
        add("warning", "source-changed",
            _("needs review: the Spanish source changed since this translation was made; "
              "it is not sent until a reviewer approves it again"))
    if t.status == "approved" and t.language != "es" and not t.reviewer:
        add("warning", "no-reviewer", _("approved without a named reviewer"))
    return out


def _lint_referrals(spec: MessageSpec, texts: list[str], used: set[str], add) -> None:
    """Who each message sends people to: 110 only for emergencies, migrants to protective services,
    the 1524 line only to the indigenous women it serves, missing children to Alba-Keneth (1546)."""
    system = "system" in spec.safety_flags
    for text in texts:  # the words around the police variable ("¿Dudas? Llame al 110" too)
        near = [_fold(text[max(0, m.start() - 40) : m.end() + 25]) for m in _POLICE.finditer(text)]
        if any(w in window for window in near for w in NOT_AN_EMERGENCY):
            add("error", "police-for-questions",
                _("the police line (110) is for emergencies: send questions to the hotline (AYUDA)"))
            break
    if not system and "policia" in used and "migrants_in_transit" in spec.audiences:
        add("error", "migrants-to-police", _("migrants in transit go to protective services (pdh, consulado, "
                                             "Casa del Migrante), not the police, who may deport victims"))
    if not system and "linea_maya" in used and not set(spec.audiences) <= LINEA_MAYA_AUDIENCES:
        others = sorted(set(spec.audiences) - LINEA_MAYA_AUDIENCES)
        add("error", "linea-maya-audience", _("1524 is the Defensoría de la Mujer Indígena line: not for "
                                              "%(audiences)s", audiences=", ".join(others)))
    if (
        "help" in spec.safety_flags and spec.topic.startswith("trafficking.")
        and "parents_of_adolescents" in spec.audiences and "alba_keneth" not in used
    ):
        add("error", "no-alba-keneth", _("a message to parents about trafficking of minors gives the "
                                         "Alba-Keneth line (alba_keneth) for a missing child"))


def _lint_whatsapp(spec: MessageSpec, t: TranslationSpec, add) -> None:
    """A WhatsApp template must map its placeholders to this message's variables; a WhatsApp message
    without a template in an approved language reaches it only inside the 24-hour window."""
    from messages.whatsapp import check_content_sid, check_variables

    if t.content_sid:
        try:
            check_content_sid(t.content_sid)
            check_variables(t.content_variables, spec.variables)
        except Invalid as exc:
            add("error", "whatsapp-template", _("WhatsApp template: %(field)s: %(reason)s",
                                                field=exc.field, reason=exc.reason))
        if not spec.whatsapp_category:
            add("error", "whatsapp-category", _("a WhatsApp template needs the message's WhatsApp category"))
    elif "whatsapp" in spec.channels and t.status == "approved":
        add("warning", "no-whatsapp-template",
            _("no WhatsApp template (Content SID): outside the 24-hour window this language "
              "cannot be sent by WhatsApp"))


def _lint_sms(spec: MessageSpec, rendered: str, policy: str, add) -> None:
    sent = apply_policy(rendered, policy)
    exact = apply_policy(rendered, "exact")
    if sent.encoding == UCS2:
        fold = apply_policy(rendered, "fold")
        fixes = _("fold would fix it") if fold.encoding != UCS2 else _("fold does not fix it")
        add("warning", "ucs2", _("characters %(chars)s force UCS-2 under policy %(policy)s (%(fixes)s)",
                                 chars=repr("".join(sent.non_gsm)), policy=policy, fixes=fixes))
    elif exact.encoding == UCS2:
        add("info", "ucs2-fixed", _("characters %(chars)s are replaced by policy %(policy)s",
                                    chars=repr("".join(exact.non_gsm)), policy=policy))
    if sent.segments > spec.segment_budget:
        add("warning", "segments", _("%(segments)d segments (%(encoding)s, %(units)d units) over the budget "
                                     "of %(budget)d", segments=sent.segments, encoding=sent.encoding,
                                     units=sent.units, budget=spec.segment_budget))


def _lint_radio(spec: MessageSpec, t: TranslationSpec, context: dict, rate: float) -> list[Finding]:
    try:
        from messages import radio
    except ImportError:
        return []
    lint_radio = getattr(radio, "lint_radio", None)
    if lint_radio is None:
        return []
    try:
        issues = lint_radio(spec, t, syllables_per_second=rate, variables=context)
    except AppError as exc:
        return [Finding("error", spec.slug, t.language, "radio", str(exc))]
    return [Finding(i.level, spec.slug, t.language, i.code, i.message) for i in issues]


def has_errors(findings: Iterable[Finding]) -> bool:
    """True when any finding is an error (the CLI exits 1)."""
    return any(f.level == "error" for f in findings)
