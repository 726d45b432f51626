"""Station files are read within bounds: a YAML alias bomb is one error naming the file, exit 1,
nothing stored."""

from __future__ import annotations

from sqlalchemy import func, select

from campaign.core.db import make_sessionmaker
from campaign.radio.models import Station
from tests.subprocess_cli import run_cli

BOMB = "\n".join(
    [
        'a: &a [{slug: s, name: "Radio ejemplo sintética", languages: [es]}]',
        *(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]" for i in range(6)),
        "stations: *g",
    ]
)


def test_stations_load_refuses_a_yaml_alias_bomb(engine, db_url, tmp_path):
    path = tmp_path / "estaciones.yaml"
    path.write_text(BOMB, encoding="utf-8")

    result = run_cli("radio", "stations", "load", str(path), db_url=db_url)

    assert result.returncode == 1, result.stdout
    assert "estaciones.yaml: aliases expand to more than 100000 values at line" in result.stderr
    with make_sessionmaker(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Station)) == 0
