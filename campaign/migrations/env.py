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
        context.configure(
            connection=connection,
            target_metadata=metadata(),
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations()
