"""Benchmark: plan a 1,000,000-recipient SMS step (segment, language, render, encoding, insert).

Targets (issue 15): under 20 s and under 1.5 GB peak memory, on SQLite (default) and PostgreSQL (--pg).
Also measures a naive planner (one ORM Contact loaded and one ORM Outbound added per recipient)
on a sample in the same run, and prints the per-recipient speed ratio.

    python benchmarks/plan_step.py [--n 1000000] [--pg] [--sample 5000] [--without-timezone]

Synthetic contacts only, seeded as the importer would (audiences/cleaning.py): with the timezone
their number gives (America/Guatemala for +502). `--without-timezone` seeds them without one, so
planning decrypts every phone to find its zone (contacts created before timezones were derived).
The PostgreSQL run uses a scratch database it creates and drops.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _bench import emit, emit_overhead, encryption_modes  # noqa: E402
from sqlalchemy import create_engine, insert, select, text  # noqa: E402

from audiences.models import Contact  # noqa: E402
from campaign.core.config import get_settings  # noqa: E402
from campaign.core.crypto import blind_index, use_keyring  # noqa: E402
from campaign.core.db import make_engine, unit_of_work  # noqa: E402
from campaign.schema import metadata  # noqa: E402

TARGET_SECONDS = 20.0  # issue 15: 1M recipients in 20 s on SQLite and PostgreSQL
TARGET_BYTES = 1.5 * 1024**3
NOW = datetime(2027, 1, 10, 15, 0, tzinfo=UTC)
FIRES = datetime(2027, 1, 11, 16, 0, tzinfo=UTC)
LANGUAGES = ["es"] * 7 + ["quc", "mam", "kek", None]


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def seed(engine, n: int, *, with_timezone: bool = True) -> None:
    """n synthetic contacts (+502 numbers that belong to nobody we know of), bulk inserted, with the
    timezone the importer derives from the number unless `with_timezone` is False."""
    from audiences.phones import timezone_for

    chunk = 50_000
    zone = timezone_for("+50230000000") if with_timezone else None  # one country: one zone
    with engine.begin() as connection:
        for start in range(0, n, chunk):
            rows = [
                {
                    "phone": f"+5023{i:07d}",
                    "phone_index": blind_index(f"+5023{i:07d}"),
                    "name": f"Sintética {i}",
                    "language": LANGUAGES[i % len(LANGUAGES)],
                    "country": "GT",
                    "department": "GT-12",
                    "timezone": zone,
                    "birth_year": 1990 + i % 20,
                    "status": "active",
                    "consent_source": "synthetic benchmark data",
                    "consent_at": NOW,
                    "custom": {},
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for i in range(start, min(n, start + chunk))
            ]
            connection.execute(insert(Contact.__table__), rows)


def make_campaign(engine) -> int:
    from campaign.blasts.lifecycle import launch
    from campaign.blasts.models import Occurrence
    from campaign.blasts.scheduling import create_due_occurrences
    from tests.factories import make_sms_campaign, make_sms_message

    with unit_of_work(engine) as session:
        message = make_sms_message(
            session,
            bodies={
                "es": "¿Te ofrecieron trabajo fácil en otro país? Es un engaño común. Llama gratis al "
                "{{ hotline_mujer }}. Responde BAJA para salir.",
                "quc": "Chab'ej {{ hotline_mujer }}. BAJA.",
            },
        )
        campaign = make_sms_campaign(
            session,
            message=message,
            query='department = "GT-12"',
            step={"fallback": ["contact", "es"], "encoding": "fold"},
            pacing={"max_per_hour": 20000},
        )
        launch(session, campaign.slug, now=NOW, settings=get_settings())
    with unit_of_work(engine) as session:
        create_due_occurrences(session, now=FIRES)
        return session.scalars(select(Occurrence.id)).one()


def naive_plan(engine, occurrence_id: int, sample: int) -> float:
    """One ORM object per contact loaded and per outbound added: the baseline. Seconds per row."""
    from campaign.blasts.models import Occurrence, Outbound
    from campaign.blasts.planning import choose_language
    from messages.encoding import apply_policy
    from messages.library import approved_translations
    from messages.rendering import build_context, render

    started = time.perf_counter()
    with unit_of_work(engine) as session:
        occurrence = session.get(Occurrence, occurrence_id)
        step = occurrence.step
        translations = approved_translations(session, [step.message_id])
        available = {language for (_, language) in translations}
        context = build_context(defaults=get_settings().hotline_defaults, campaign=step.campaign.variables)
        contacts = session.scalars(select(Contact).order_by(Contact.id).limit(sample)).all()
        for contact in contacts:
            language = choose_language(contact.language, step.fallback, available)
            translation = translations[(step.message_id, language)]
            info = apply_policy(render(translation.body, {**context, "contact": contact}), "fold")
            session.add(
                Outbound(
                    occurrence_id=None,
                    campaign_id=step.campaign_id,
                    step_id=step.id,
                    contact_id=contact.id,
                    message_id=step.message_id,
                    language=language,
                    template_version=translation.version,
                    body=info.text,
                    encoding=info.encoding,
                    segments=info.segments,
                    send_after=FIRES,
                    created_at=NOW,
                )
            )
        session.flush()
        session.rollback()
    return (time.perf_counter() - started) / sample


def plan_plain(url: str, n: int, with_timezone: bool) -> tuple[float, float]:
    """Seconds (wall, this process's CPU) to plan the same step with encryption off (a keyring that
    stores values as they are): the same-run baseline of encryption's cost."""
    from campaign.blasts.planning import plan_occurrence

    ring = dict(encryption_modes())
    use_keyring(ring["plain"])
    engine = make_engine(url)
    metadata().create_all(engine)
    seed(engine, n, with_timezone=with_timezone)
    occurrence_id = make_campaign(engine)
    started, started_cpu = time.perf_counter(), time.process_time()
    with unit_of_work(engine) as session:
        plan_occurrence(session, occurrence_id, now=FIRES, settings=get_settings())
    seconds, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    engine.dispose()
    use_keyring(ring["encrypted"])
    return seconds, cpu


def run(url: str, n: int, sample: int, plain_url: str | None = None, with_timezone: bool = True) -> int:
    from campaign.blasts.planning import plan_occurrence

    plain = plan_plain(plain_url, n, with_timezone) if plain_url else None
    engine = make_engine(url)
    metadata().create_all(engine)
    t0 = time.perf_counter()
    seed(engine, n, with_timezone=with_timezone)
    zones = "with their timezone" if with_timezone else "without a timezone (phones decrypted)"
    print(f"seeded {n:,} synthetic contacts {zones} in {time.perf_counter() - t0:.1f} s")
    occurrence_id = make_campaign(engine)
    naive = naive_plan(engine, occurrence_id, sample)
    rss_before = peak_rss_bytes()
    started, started_cpu = time.perf_counter(), time.process_time()
    with unit_of_work(engine) as session:
        result = plan_occurrence(session, occurrence_id, now=FIRES, settings=get_settings())
    seconds, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    peak = peak_rss_bytes()
    per_row = seconds / max(1, result.planned)
    print(f"backend: {engine.dialect.name}")
    print(
        f"planned {result.planned:,} rows ({result.queued:,} queued, skipped {dict(result.skipped)}) "
        f"in {seconds:.1f} s (target < {TARGET_SECONDS:.0f} s) -> "
        f"{'OK' if seconds < TARGET_SECONDS else 'SLOW'}"
    )
    print(
        f"peak memory {peak / 1024**2:.0f} MiB (before planning {rss_before / 1024**2:.0f} MiB; "
        f"target < {TARGET_BYTES / 1024**3:.1f} GiB) -> {'OK' if peak < TARGET_BYTES else 'TOO MUCH'}"
    )
    print(
        f"naive ORM-per-row planner on {sample:,} rows: {naive * 1e6:.0f} us/row; set-based: "
        f"{per_row * 1e6:.1f} us/row; ratio {naive / per_row:.1f}x"
    )
    label = "PostgreSQL" if engine.dialect.name == "postgresql" else "SQLite"
    emit(f"plan {n:,} recipients, {label}", seconds, unit="s", target=TARGET_SECONDS, better="lower",
         baseline=naive * max(1, result.planned), baseline_label="ORM object per row (extrapolated)")
    emit(f"planning peak memory, {label}", peak / 1024**2, unit="MiB", target=TARGET_BYTES / 1024**2,
         better="lower")
    if plain is not None:
        emit_overhead(f"planning encryption cost, {label}", seconds, plain[0], cpu_encrypted=cpu,
                      cpu_plain=plain[1], cpu_note=", this process only" if label == "PostgreSQL" else "")
    engine.dispose()
    return 0 if seconds < TARGET_SECONDS and peak < TARGET_BYTES else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=5_000)
    parser.add_argument("--pg", action="store_true", help="run on PostgreSQL (CAMPAIGN_TEST_PG_URL)")
    parser.add_argument(
        "--without-timezone", action="store_true",
        help="seed contacts with no timezone (planning then decrypts their phones)",
    )
    args = parser.parse_args()
    use_keyring(dict(encryption_modes())["encrypted"])  # fresh random keys, never the deployment's
    if not args.pg:
        with tempfile.TemporaryDirectory() as folder:
            return run(
                f"sqlite:///{folder}/bench.db", args.n, args.sample, f"sqlite:///{folder}/plain.db",
                with_timezone=not args.without_timezone,
            )
    base = os.environ.get("CAMPAIGN_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    name = f"bench_plan_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        from sqlalchemy.engine import make_url

        return run(
            make_url(base).set(database=name).render_as_string(hide_password=False), args.n, args.sample,
            with_timezone=not args.without_timezone,
        )
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
