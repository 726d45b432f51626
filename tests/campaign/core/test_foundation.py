"""The foundation: settings, migrations, the CLI's error handling."""

from __future__ import annotations

import json

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from campaign.cli import app
from campaign.core.db import make_engine
from campaign.schema import current_revision, head_revision, pending_model_changes, upgrade
from tests.factories import make_contact


def test_config_masks_secrets(cli, monkeypatch):
    monkeypatch.setenv("CAMPAIGN_TWILIO_AUTH_TOKEN", "0123456789abcdef-secret-token")
    monkeypatch.setenv("CAMPAIGN_DATABASE_URL", "postgresql+psycopg://app:hunter2@db.local/prod")
    result = cli.invoke(app, ["config", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert "secret-token" not in result.output
    assert "hunter2" not in result.output
    assert data["twilio_auth_token"].endswith("oken") and data["twilio_auth_token"].startswith("****")
    assert data["timezone"] == "America/Guatemala"


def test_init_creates_then_is_idempotent(cli, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/fresh.db"
    monkeypatch.setenv("CAMPAIGN_DATABASE_URL", url)
    first = cli.invoke(app, ["init", "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["from"] is None
    second = cli.invoke(app, ["init", "--json"])
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout)["from"] == json.loads(second.stdout)["to"]
    engine = make_engine(url)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_migrations_from_empty_match_models(db_url, tmp_path):
    """Upgrade-from-empty works on both backends and autogenerate finds nothing left to do."""
    if db_url.startswith("sqlite"):
        engine = make_engine(f"sqlite:///{tmp_path}/migrated.db")
    else:
        # A schema of its own inside the run's database, so create_all tables don't interfere.
        engine = make_engine(db_url)
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA IF EXISTS migrated CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA migrated")
        engine.dispose()
        engine = make_engine(db_url, connect_args={"options": "-csearch_path=migrated"})
    try:
        assert current_revision(engine) is None
        before, after = upgrade(engine)
        assert (before, after) == (None, head_revision(engine))
        assert pending_model_changes(engine) == []
        upgrade(engine)  # idempotent
        assert "contacts" in inspect(engine).get_table_names()
    finally:
        _drop_schema(engine, db_url)


def _drop_schema(engine: Engine, db_url: str) -> None:
    engine.dispose()
    if db_url.startswith("postgresql"):
        cleanup = make_engine(db_url)
        with cleanup.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA IF EXISTS migrated CASCADE")
        cleanup.dispose()


def test_phone_is_unique_in_the_database(session):
    import pytest
    from sqlalchemy.exc import IntegrityError

    make_contact(session, phone="+50230000001")
    with pytest.raises(IntegrityError):
        make_contact(session, phone="+50230000001")


def test_error_is_one_line_without_traceback(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("CAMPAIGN_PROVIDER", "carrier-pigeon")
    result = cli.invoke(app, ["config"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: CAMPAIGN_PROVIDER:"), result.stderr


def test_database_refuses_a_second_outbound_for_the_same_occurrence_and_contact(session):
    """Invariant 1 is a unique constraint, not a check in Python: a raw insert is refused too."""
    import pytest
    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    from campaign.blasts.models import Outbound
    from tests.factories import make_blast

    occurrence = make_blast(session)
    contact = make_contact(session)
    row = {
        "occurrence_id": occurrence.id, "step_id": occurrence.step_id, "campaign_id": occurrence.campaign_id,
        "contact_id": contact.id, "body": "Mensaje sintético",
    }
    session.execute(insert(Outbound), [row])
    with pytest.raises(IntegrityError):
        session.execute(insert(Outbound), [row])


def test_a_planned_row_names_the_step_and_campaign_of_its_occurrence(session):
    """One composite foreign key checks a planned row's occurrence, step and campaign together: a
    row that names another step or campaign than its occurrence's, or leaves them out, is refused,
    as is an occurrence of another campaign than its step's. Rows without an occurrence (a fallback
    SMS, a hotline reply) are not bound to one."""
    import pytest
    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    from campaign.blasts.models import Occurrence, Outbound
    from tests.factories import make_blast, make_sms_campaign, make_sms_message

    occurrence = make_blast(session)
    other = make_sms_campaign(session, message=make_sms_message(session, slug="otro-mensaje"), slug="otra")
    other_step = other.steps[0]
    contact = make_contact(session)
    good = {
        "occurrence_id": occurrence.id, "step_id": occurrence.step_id, "campaign_id": occurrence.campaign_id,
        "contact_id": contact.id, "body": "Mensaje sintético",
    }
    for wrong in (
        {"step_id": other_step.id},
        {"campaign_id": other.id},
        {"step_id": other_step.id, "campaign_id": other.id},
        {"step_id": None},
        {"campaign_id": None},
    ):
        with pytest.raises(IntegrityError), session.begin_nested():
            session.execute(insert(Outbound), [{**good, **wrong}])
    with pytest.raises(IntegrityError), session.begin_nested():
        session.execute(
            insert(Occurrence),
            [{"step_id": other_step.id, "campaign_id": occurrence.campaign_id,
              "scheduled_at": occurrence.fires_at, "fires_at": occurrence.fires_at}],
        )
    session.execute(insert(Outbound), [good])
    fallback = {**good, "occurrence_id": None, "step_id": other_step.id, "campaign_id": other.id}
    reply = {**good, "occurrence_id": None, "step_id": None, "campaign_id": None, "priority": 10}
    session.execute(insert(Outbound), [fallback, reply])
    assert session.query(Outbound).count() == 3


def test_database_refuses_a_second_inbound_with_the_same_provider_sid(session):
    """Invariant 6's 'stored exactly once' holds even for a raw insert racing the webhook."""
    import pytest
    from sqlalchemy import insert
    from sqlalchemy.exc import IntegrityError

    from campaign.hotline.models import Inbound

    contact = make_contact(session)
    row = {"provider_sid": "SM" + "0" * 32, "contact_id": contact.id, "body": "hola", "intent": "reply"}
    session.execute(insert(Inbound), [row])
    with pytest.raises(IntegrityError):
        session.execute(insert(Inbound), [row])


def test_statistics_are_refreshed_after_a_bulk_change_on_postgresql(engine, session):
    """The planner must know a freshly loaded contacts table is big (keyset chunks stay index scans)."""
    from campaign.core.db import bulk_insert, is_postgres, refresh_statistics, utcnow

    now = utcnow()
    rows = [(f"+5023{i:07d}", "active", "{}", now, now) for i in range(500)]
    bulk_insert(
        session,
        "contacts",
        ("phone", "status", "custom", "created_at", "updated_at"),
        rows,
        datetime_columns=("created_at", "updated_at"),
    )
    session.commit()
    if not is_postgres(session):
        assert refresh_statistics(session, "contacts") is False
        return
    session.execute(text("SELECT pg_stat_force_next_flush()"))
    session.commit()
    assert refresh_statistics(session, "contacts") is True  # 500 rows changed since any analyze
    estimate = session.scalar(text("SELECT reltuples FROM pg_class WHERE relname = 'contacts'"))
    assert estimate == 500  # what the planner now believes (ANALYZE updates pg_class at once)
