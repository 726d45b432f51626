"""Benchmark: count each built-in segment over 1,000,000 contacts on SQLite and PostgreSQL. Target < 1 s.

    python benchmarks/segment_count.py [--rows N] [--no-pg]

Contacts are bulk-loaded through the importer from the synthetic generator. The naive baseline
loads every contact into Python and filters there (what the query language exists to avoid).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _bench import emit  # noqa: E402
from sqlalchemy import select, text  # noqa: E402

from audiences.geography import border_municipality_codes  # noqa: E402
from audiences.importer import import_file  # noqa: E402
from audiences.models import Contact  # noqa: E402
from audiences.sample import write_csv  # noqa: E402
from audiences.segments import BUILTIN_SEGMENTS, count  # noqa: E402
from campaign.core.db import make_engine, unit_of_work  # noqa: E402
from campaign.schema import metadata  # noqa: E402

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TODAY = date(2025, 6, 1)


def _engine(url: str):
    if url.startswith("sqlite"):
        engine = make_engine(url)
    else:
        engine = make_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS bench_segments CASCADE"))
            connection.execute(text("CREATE SCHEMA bench_segments"))
        engine.dispose()
        engine = make_engine(url, connect_args={"options": "-csearch_path=bench_segments"})
    metadata().create_all(engine)
    return engine


def naive_border_youth(engine) -> tuple[int, float]:
    border = set(border_municipality_codes())
    start = time.perf_counter()
    with unit_of_work(engine) as session:
        rows = session.execute(select(Contact.municipality_code, Contact.birth_year)).all()
    n = sum(1 for m, y in rows if m in border and y is not None and 13 <= TODAY.year - y <= 24)
    return n, time.perf_counter() - start


def run(url: str, csv_path: Path, label: str) -> None:
    engine = _engine(url)
    start = time.perf_counter()
    with unit_of_work(engine) as session:
        summary = import_file(session, csv_path, partial=True, now=datetime.now(UTC))
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("ANALYZE contacts"))
    print(f"[{label}] loaded {summary.imported:,} contacts in {time.perf_counter() - start:.1f} s")
    worst = 0.0
    for builtin in BUILTIN_SEGMENTS:
        with unit_of_work(engine) as session:
            count(session, builtin.slug, today=TODAY)  # warm the cache as a real server would be
            t0 = time.perf_counter()
            result = count(session, builtin.slug, today=TODAY)
            seconds = time.perf_counter() - t0
        worst = max(worst, seconds)
        print(f"[{label}] {builtin.slug:30s} {result.count:>9,} contacts in {seconds * 1000:7.0f} ms")
    naive_n, naive_seconds = naive_border_youth(engine)
    verdict = "OK" if worst < 1 else "MISSED"
    print(f"[{label}] worst built-in segment count {worst:.3f} s, target 1 s -> {verdict}")
    print(f"[{label}] naive load-and-filter border_youth: {naive_n:,} in {naive_seconds:.2f} s")
    emit(f"worst built-in segment count, 1M contacts, {label}", worst, unit="s", target=1.0, better="lower",
         baseline=naive_seconds, baseline_label="load every contact and filter in Python (border_youth)")
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS bench_segments CASCADE"))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--pg-url", default=PG_DEFAULT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = write_csv(Path(tmp) / "contacts.csv", args.rows, seed=11)
        run(f"sqlite:///{tmp}/segments.db", csv_path, "SQLite")
        if not args.no_pg:
            run(args.pg_url, csv_path, "PostgreSQL")


if __name__ == "__main__":
    main()
