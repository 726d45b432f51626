"""Campaign files have bounds: out-of-range dates and numbers, long texts and YAML alias bombs are
one clear error naming the field (or line and column), a non-zero exit, and nothing stored."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from campaign.blasts.campaign_files import parse_campaign
from campaign.blasts.models import Campaign
from campaign.core.db import make_sessionmaker
from campaign.core.errors import Invalid
from tests.factories import make_sms_message
from tests.subprocess_cli import run_cli

STEP = {"id": "paso", "message": "limite-prueba", "query": 'department = "GT-12"', "at": "2027-01-11 10:00"}


def document(**changes: object) -> dict[str, object]:
    step = {**STEP, **changes.pop("step", {})}  # type: ignore[dict-item]
    return {"slug": "limites", "name": "Campaña de prueba", "steps": [step], **changes}


BILLION_LAUGHS = "\n".join(
    [
        'a: &a ["ja", "ja", "ja", "ja", "ja", "ja", "ja", "ja", "ja"]',
        *(
            f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]"
            for i in range(8)
        ),
        "slug: limites",
        "name: bomba",
        "steps: [*i]",
    ]
)


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"step": {"at": "9999-12-31 23:59"}}, "steps[0].at", "between 2000 and 2099"),
        ({"step": {"at": "0001-01-01 00:00"}}, "steps[0].at", "between 2000 and 2099"),
        ({"step": {"deadline": "99999999999h"}}, "steps[0].deadline", "more than a year"),
        ({"step": {"deadline": 10**12}}, "steps[0].deadline", "more than 8760"),
        ({"step": {"deadline": "100000d"}}, "steps[0].deadline", "more than a year"),
        (
            {"step": {"at": None, "offset": {"field": "inscrito", "days": 10**9}}},
            "steps[0].offset.days",
            "from 0 to 3650",
        ),
        ({"pacing": {"max_per_hour": 2**40}}, "pacing.max_per_hour", "more than 1000000"),
        ({"price_per_segment": 1e308}, "price_per_segment", "between 0 and"),
        ({"name": "x" * 201}, "name", "longer than 200"),
        ({"variables": {"organizacion": "x" * 1001}}, "variables.organizacion", "longer than 1000"),
        ({"variables": {f"v{i}": i for i in range(101)}}, "variables", "more than 100"),
        ({"step": {"query": "age > 1 or " * 1000 + "age > 1"}}, "steps[0].query", "longer than 10000"),
        ({"steps": [dict(STEP, id=f"p{i}") for i in range(201)]}, "steps", "more than 200"),
    ],
)
def test_values_out_of_range_name_their_field(changes, field, words):
    with pytest.raises(Invalid) as refused:
        parse_campaign(document(**changes))
    assert refused.value.field == field
    assert words in refused.value.reason


def test_the_base_document_is_valid():
    assert parse_campaign(document())["steps"][0]["key"] == "paso"


@pytest.fixture
def message(engine):
    with make_sessionmaker(engine).begin() as session:
        make_sms_message(session, slug="limite-prueba")


def _stored(engine) -> list[str]:
    with make_sessionmaker(engine)() as session:
        return list(session.scalars(select(Campaign.slug)))


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (yaml.safe_dump(document(step={"at": "9999-12-31 23:59"})), "steps[0].at: '9999-12-31 23:59' is not"),
        (yaml.safe_dump(document(step={"deadline": "99999999999h"})), "steps[0].deadline: 99999999999h is"),
        (BILLION_LAUGHS, "limites.yaml: aliases expand to more than 100000 values at line"),
        ("slug: limites\nsteps: [1, 2\n", "limites.yaml: not valid YAML at line 3, column 1"),
        ("a: " + "[" * 100 + "]" * 100 + "\n", "limites.yaml: nested more than 50 levels deep at line 1"),
    ],
    ids=["at-9999", "deadline-overflow", "billion-laughs", "broken-yaml", "deep-nesting"],
)
def test_campaign_create_refuses_and_stores_nothing(engine, db_url, message, tmp_path, text, words):
    path = Path(tmp_path) / "limites.yaml"
    path.write_text(text, encoding="utf-8")

    result = run_cli("create", str(path), db_url=db_url, timeout=60)

    assert result.returncode == 1, result.stdout + result.stderr
    assert words in result.stderr
    assert result.stderr.count("\n") == 1  # one line
    assert _stored(engine) == []
    path.write_text(yaml.safe_dump(document()), encoding="utf-8")
    assert run_cli("create", str(path), db_url=db_url).returncode == 0  # the same file, fixed, loads
    assert _stored(engine) == ["limites"]
