"""Benchmark: import 1,000,000 generated CSV rows (validation + dedupe). Target: 60 s, peak < 2 GB.

    python benchmarks/import_contacts.py [--rows N] [--pg URL-or-default] [--naive-rows N]

Imports the file twice in the same run, without encryption then with it, and prints what encryption
costs (issue 12: at most 25 %) in wall time and in this process's CPU time. On SQLite the process
does all the work, so its CPU time is the whole cost, and is the steadier figure on a busy machine;
on PostgreSQL it leaves out the server's share.

Also imports a small sample row by row through the ORM (the naive way) and prints the ratio,
extrapolated to the same number of rows.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _bench import emit, emit_overhead, encryption_modes  # noqa: E402
from sqlalchemy import text  # noqa: E402

from audiences.importer import import_file  # noqa: E402
from audiences.models import Contact  # noqa: E402
from audiences.phones import normalize_phone  # noqa: E402
from audiences.sample import generate, write_csv  # noqa: E402
from campaign.core.crypto import use_keyring  # noqa: E402
from campaign.core.db import make_engine, unit_of_work  # noqa: E402
from campaign.schema import metadata  # noqa: E402

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _fresh_engine(url: str | None, folder: Path):
    if url is None:
        engine = make_engine(f"sqlite:///{folder}/bench.db")
    else:
        engine = make_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS bench_import CASCADE"))
            connection.execute(text("CREATE SCHEMA bench_import"))
        engine.dispose()
        engine = make_engine(url, connect_args={"options": "-csearch_path=bench_import"})
    metadata().create_all(engine)
    return engine


def naive_import(engine, rows: int, seed: int) -> float:
    """One ORM object per row, a SELECT per row for dedupe: how a first version would do it."""
    frame = generate(rows, seed)
    start = time.perf_counter()
    with unit_of_work(engine) as session:
        for record in frame.to_dict("records"):
            try:
                number = normalize_phone(record["teléfono"])
            except Exception:  # noqa: BLE001 - the naive version skips bad rows
                continue
            contact = session.query(Contact).filter(Contact.phone_is(number.e164)).one_or_none()
            if contact is None:
                contact = Contact(phone=number.e164, country=number.country)
                session.add(contact)
            contact.name = record["nombre"] or contact.name
            session.flush()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--naive-rows", type=int, default=5_000)
    parser.add_argument("--pg", nargs="?", const=PG_DEFAULT, default=None, help="PostgreSQL URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        csv_path = folder / "contacts.csv"
        t0 = time.perf_counter()
        write_csv(csv_path, args.rows, seed=7)
        print(f"generated {args.rows:,} synthetic rows in {time.perf_counter() - t0:.1f} s")
        timings: dict[str, float] = {}
        cpu: dict[str, float] = {}
        for label, ring in reversed(encryption_modes()):  # plain first: the encrypted run is kept
            use_keyring(ring)
            engine = _fresh_engine(args.pg, folder / label)
            start, start_cpu = time.perf_counter(), time.process_time()
            with unit_of_work(engine) as session:
                summary = import_file(session, csv_path, partial=True, now=datetime.now(UTC))
            timings[label] = time.perf_counter() - start
            cpu[label] = time.process_time() - start_cpu
            if label == "plain":
                engine.dispose()
        seconds = timings["encrypted"]
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        backend = "PostgreSQL" if args.pg else "SQLite"
        print(f"backend: {backend}")
        print(f"rows {summary.rows:,} imported {summary.imported:,} duplicates {summary.duplicates:,} "
              f"rejected {summary.rejected:,}")
        print(f"import: {seconds:.1f} s ({args.rows / seconds:,.0f} rows/s), target 60 s -> "
              f"{'OK' if seconds <= 60 else 'MISSED'}")
        print(f"peak memory (ru_maxrss, whole process): {peak_mb:,.0f} MB, target 2048 MB -> "
              f"{'OK' if peak_mb < 2048 else 'MISSED'}")
        naive_engine = _fresh_engine(args.pg, folder / "naive") if args.pg else None
        if naive_engine is None:
            (folder / "naive").mkdir()
            naive_engine = _fresh_engine(None, folder / "naive")
        naive_seconds = naive_import(naive_engine, args.naive_rows, seed=7)
        extrapolated = naive_seconds * args.rows / args.naive_rows
        print(f"naive row-by-row ORM: {args.naive_rows:,} rows in {naive_seconds:.1f} s -> "
              f"{extrapolated:,.0f} s extrapolated for {args.rows:,}; speed-up x{extrapolated / seconds:.0f}")
        emit(f"import {args.rows:,} rows, {backend}", seconds, unit="s", target=60.0, better="lower",
             baseline=extrapolated, baseline_label="row-by-row ORM (extrapolated)")
        emit(f"import peak memory, {backend}", peak_mb, unit="MB", target=2048.0, better="lower")
        emit_overhead(f"import encryption cost, {backend}", timings["encrypted"], timings["plain"],
                      cpu_encrypted=cpu["encrypted"], cpu_plain=cpu["plain"],
                      cpu_note=", this process only" if args.pg else "")
        if args.pg:
            with engine.begin() as connection:
                connection.execute(text("DROP SCHEMA IF EXISTS bench_import CASCADE"))


if __name__ == "__main__":
    main()
