"""The floors of issue 11 on the labelled synthetic corpus (tests/data/triage_corpus.jsonl)."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaign.hotline.evaluation import CLASSES, load_corpus, predict, quality
from campaign.hotline.intents import pack_lexicon, triage

CORPUS = Path(__file__).resolve().parents[2] / "data" / "triage_corpus.jsonl"


@pytest.fixture(scope="module")
def figures():
    lexicon = pack_lexicon()
    examples = load_corpus(CORPUS)
    return quality(predict(examples, lambda text, lang: str(triage(text, lang, lexicon).intent)))


def test_the_corpus_is_large_enough_and_covers_every_class():
    examples = load_corpus(CORPUS)
    assert len(examples) >= 400
    labels = {e.intent for e in examples}
    assert labels == set(CLASSES)
    batches = {"dev", "heldout-1", "heldout-2", "heldout-3", "heldout-4", "heldout-5"}
    assert {e.batch for e in examples} >= batches


def test_floors_hold_on_the_corpus(figures):
    assert figures.urgent_recall >= 0.97
    assert figures.non_urgent_as_urgent <= 0.10
    assert figures.opt_out_recall >= 0.95
    assert figures.danger_or_help_as_opt_out == 0
    assert figures.floors_held, figures.floor_failures()


def test_the_quality_figures_count_what_they_say():
    pairs = [("urgent", "urgent"), ("urgent", "reply"), ("help", "opt_out"), ("reply", "urgent"),
             ("opt_out", "opt_out"), ("reply", "reply")]
    figures = quality(pairs)
    assert figures.urgent_recall == 0.5
    assert figures.non_urgent_as_urgent == 0.25  # 1 of the 4 messages not labelled urgent
    assert figures.danger_or_help_as_opt_out == 1
    assert figures.matrix["urgent"]["reply"] == 1
    assert not figures.floors_held and len(figures.floor_failures()) == 3
