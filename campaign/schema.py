"""The whole schema in one place: imports every models module and drives Alembic migrations."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import MetaData
from sqlalchemy.engine import Engine

import audiences.models  # noqa: F401  (registers tables on Base.metadata)
import campaign.blasts.models  # noqa: F401
import campaign.core.audit  # noqa: F401
import campaign.hotline.models  # noqa: F401
import campaign.radio.models  # noqa: F401
import messages.models  # noqa: F401
from campaign.core.db import Base

if TYPE_CHECKING:  # Alembic is imported where it is used: most commands never migrate
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def metadata() -> MetaData:
    """The metadata of every table of the engine."""
    return Base.metadata


def alembic_config(engine: Engine) -> Config:
    """An Alembic config that runs on `engine` (no alembic.ini needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    config.attributes["engine"] = engine
    return config


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None when empty)."""
    from alembic.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    """The newest revision shipped with the code."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def upgrade(engine: Engine) -> tuple[str | None, str | None]:
    """Creates or upgrades the database to head; idempotent. Returns (before, after) revisions."""
    from alembic import command

    before = current_revision(engine)
    command.upgrade(alembic_config(engine), "head")
    return before, current_revision(engine)


def pending_model_changes(engine: Engine) -> list[object]:
    """Differences between the models and the migrated database (empty when they match)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": False}
        )
        return list(compare_metadata(context, metadata()))
