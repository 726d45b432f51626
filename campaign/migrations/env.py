"""Alembic environment: runs migrations on the engine handed over by campaign.schema."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from campaign.schema import metadata

config = context.config


def run_migrations() -> None:
    engine = config.attributes.get("engine")
    if engine is None:  # plain `alembic` invocation: build from the URL
        url = config.get_main_option("sqlalchemy.url")
        assert url, "alembic needs sqlalchemy.url (campaign init sets it)"
        engine = create_engine(url)
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # A rebuilt table (batch mode) is dropped and replaced: with foreign keys on, dropping it
            # would cascade into every table pointing at it. Off before any transaction begins (the
            # pragma does nothing inside one), checked after the migrations, on again after commit.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        try:
            context.configure(
                connection=connection,
                target_metadata=metadata(),
                render_as_batch=sqlite,
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                    raise RuntimeError("a migration left rows pointing at rows that do not exist")
            connection.commit()
        finally:
            if sqlite:
                connection.rollback()  # nothing left after a commit; the pragma needs no transaction
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")

run_migrations()
