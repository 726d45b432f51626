"""Quality of the triage on a labelled corpus: per-class precision and recall, confusion matrix, floors.

Pure functions over (label, predicted) pairs, shared by benchmarks/triage_quality.py (prints them)
and the test that holds the floors (tests/campaign/hotline/test_triage_quality.py). The corpus
format is JSON Lines, one object per message: {"text", "intent", "batch", "lang"}.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from campaign.hotline.models import Intent

CLASSES: tuple[str, ...] = tuple(i.value for i in (Intent.URGENT, Intent.HELP, Intent.OPT_OUT, Intent.OPT_IN,
                                                   Intent.REPLY))

# The floors the issue sets (issue 11): a missed urgent message costs far more than a false alarm.
URGENT_RECALL_MIN = 0.97
NON_URGENT_AS_URGENT_MAX = 0.10
OPT_OUT_RECALL_MIN = 0.95


@dataclass(frozen=True)
class Example:
    """One labelled message of the corpus."""

    text: str
    intent: str
    batch: str = "dev"
    lang: str = "es"


def load_corpus(path: Path | str) -> list[Example]:
    """The corpus at `path` (JSON Lines). Raises ValueError naming the line of a bad row."""
    examples = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            example = Example(str(row["text"]), str(row["intent"]), str(row.get("batch", "dev")),
                              str(row.get("lang", "es")))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a corpus row ({exc})") from exc
        if example.intent not in CLASSES:
            raise ValueError(f"{path}:{number}: unknown intent {example.intent!r}")
        examples.append(example)
    return examples


@dataclass(frozen=True)
class ClassFigures:
    """Precision, recall and support (labelled count) of one class."""

    name: str
    precision: float
    recall: float
    support: int
    predicted: int


@dataclass(frozen=True)
class Quality:
    """The figures of one set of (label, predicted) pairs."""

    total: int
    correct: int
    matrix: dict[str, dict[str, int]]  # label -> predicted -> count
    classes: tuple[ClassFigures, ...]
    urgent_recall: float
    non_urgent_as_urgent: float
    opt_out_recall: float
    danger_or_help_as_opt_out: int

    @property
    def floors_held(self) -> bool:
        """True when every floor of issue 11 holds."""
        return not self.floor_failures()

    def floor_failures(self) -> list[str]:
        """One line per floor that does not hold (empty when all hold)."""
        out = []
        if self.urgent_recall < URGENT_RECALL_MIN:
            out.append(f"urgent recall {self.urgent_recall:.3f} < {URGENT_RECALL_MIN}")
        if self.non_urgent_as_urgent > NON_URGENT_AS_URGENT_MAX:
            share = self.non_urgent_as_urgent
            out.append(f"non-urgent flagged urgent {share:.3f} > {NON_URGENT_AS_URGENT_MAX}")
        if self.opt_out_recall < OPT_OUT_RECALL_MIN:
            out.append(f"opt-out recall {self.opt_out_recall:.3f} < {OPT_OUT_RECALL_MIN}")
        if self.danger_or_help_as_opt_out:
            out.append(f"{self.danger_or_help_as_opt_out} urgent or help messages taken as opt-out")
        return out


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 1.0


def quality(pairs: Iterable[tuple[str, str]]) -> Quality:
    """The figures of (label, predicted) pairs."""
    pairs = list(pairs)
    matrix = {label: dict.fromkeys(CLASSES, 0) for label in CLASSES}
    for label, guess in pairs:
        matrix[label][guess] += 1
    classes = []
    for name in CLASSES:
        hits = matrix[name][name]
        support = sum(matrix[name].values())
        predicted = sum(matrix[label][name] for label in CLASSES)
        classes.append(ClassFigures(name, _ratio(hits, predicted), _ratio(hits, support), support, predicted))
    non_urgent = [p for label, p in pairs if label != Intent.URGENT]
    return Quality(
        total=len(pairs),
        correct=sum(1 for label, p in pairs if label == p),
        matrix=matrix,
        classes=tuple(classes),
        urgent_recall=classes[0].recall,
        non_urgent_as_urgent=_ratio(sum(1 for p in non_urgent if p == Intent.URGENT), len(non_urgent)),
        opt_out_recall=classes[2].recall,
        danger_or_help_as_opt_out=sum(
            1 for label, p in pairs if label in (Intent.URGENT, Intent.HELP) and p == Intent.OPT_OUT
        ),
    )


def predict(examples: Sequence[Example], classify: Callable[[str, str], str]) -> list[tuple[str, str]]:
    """(label, predicted) for each example; `classify(text, lang)` returns an intent value."""
    return [(e.intent, str(classify(e.text, e.lang))) for e in examples]


def format_report(title: str, figures: Quality) -> str:
    """Per-class precision/recall, the confusion matrix and the floors, as text for people."""
    lines = [f"{title}: {figures.correct}/{figures.total} correct"]
    lines.append(f"  {'class':<9}{'precision':>10}{'recall':>8}{'labelled':>10}{'predicted':>11}")
    for c in figures.classes:
        lines.append(f"  {c.name:<9}{c.precision:>10.3f}{c.recall:>8.3f}{c.support:>10}{c.predicted:>11}")
    lines.append("  confusion (rows: label, columns: predicted)")
    lines.append("  " + " " * 9 + "".join(f"{name:>9}" for name in CLASSES))
    for label in CLASSES:
        lines.append(f"  {label:<9}" + "".join(f"{figures.matrix[label][p]:>9}" for p in CLASSES))
    lines.append(
        f"  urgent recall {figures.urgent_recall:.3f} (floor {URGENT_RECALL_MIN}); "
        f"non-urgent flagged urgent {figures.non_urgent_as_urgent:.3f} (max {NON_URGENT_AS_URGENT_MAX}); "
        f"opt-out recall {figures.opt_out_recall:.3f} (floor {OPT_OUT_RECALL_MIN}); "
        f"urgent/help taken as opt-out {figures.danger_or_help_as_opt_out} (must be 0)"
    )
    return "\n".join(lines)
