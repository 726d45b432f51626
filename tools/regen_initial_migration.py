"""Regenerates migration 0001 from the models (only while nothing has been deployed).

Run as `.venv/bin/python tools/regen_initial_migration.py`. Once a database exists in the field,
add new revisions with `alembic revision --autogenerate` instead.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from alembic import command

from campaign.core.db import make_engine
from campaign.schema import MIGRATIONS_DIR, alembic_config

target = MIGRATIONS_DIR / "versions" / "0001_initial_schema.py"
target.unlink(missing_ok=True)
with tempfile.TemporaryDirectory() as tmp:
    engine = make_engine(f"sqlite:///{tmp}/gen.db")
    command.revision(
        alembic_config(engine), message="initial schema", autogenerate=True, rev_id="0001"
    )
text = target.read_text()
text = text.replace("astext_type=Text()", "astext_type=sa.Text()").replace("Revises: \n", "Revises:\n")
text = re.sub(r"Create Date: .*", "Create Date: (regenerated from the models)", text)
target.write_text(text)
subprocess.run([sys.executable, "-m", "ruff", "check", "--fix", "-q", str(target)], check=False)
print(f"wrote {Path(target).relative_to(Path.cwd())}")
