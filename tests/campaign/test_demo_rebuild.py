"""`make demo` rebuilds only a database holding exactly what a demo made (issue 10, defect 2).

Work added after a demo (a user, an import, a campaign, a translation approved, a radio log) makes
the next demo refuse, naming what it found, unless --force; and a web server still running on the
old file stops serving it. Each command in a fresh process, as people run them. Synthetic data.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.processes import (
    SAMPLES,
    build_demo_database,
    copy_database,
    environment,
    free_port,
    run,
)

DEMO = ("campaign", "demo", "--contacts", "60", "--days", "1")
NEW_CAMPAIGN = (
    (SAMPLES / "frontera-segura.yaml")
    .read_text(encoding="utf-8")
    .replace("slug: frontera-segura", "slug: frontera-nueva")
)
FILES = {
    "nueva.yaml": NEW_CAMPAIGN,
    "aired.csv": "date,time,spot,aired,notes\n2027-01-12,06:30,spot-coyotes,yes,\n",
    "people.csv": "teléfono,nombre,consentimiento\n+50255550131,Persona Sintética,feria de salud\n",
}
WORK = {
    "a user": (("campaign", "users", "add", "ana", "--role", "hotline", "--password-stdin"), "1 users added"),
    "an import": (("campaign", "audiences", "import", "people.csv"), "1 imports added"),
    "a campaign": (("campaign", "create", "nueva.yaml"), "1 campaigns added"),
    "a translation": (
        ("campaign", "messages", "approve", "respuesta-ayuda", "--lang", "cak", "--by", "Revisora Sintética"),
        "translations changed",
    ),
    "a radio log": (
        ("campaign", "radio", "log", "ejemplo-frontera-ayutla", "aired.csv"),
        "radio airings or airing logs changed",
    ),
}


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_demo_database(tmp_path_factory.mktemp("demo"), contacts=60)


@pytest.fixture
def demo_copy(demo_template: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    url = copy_database(demo_template, tmp_path / "var")
    for name, text in FILES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path, environment(url)


@pytest.mark.slow
def test_an_untouched_demo_database_is_rebuilt(demo_copy):
    folder, env = demo_copy
    again = run(DEMO, cwd=folder, env=env, timeout=900)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "Report matches the database" in again.stdout


@pytest.mark.slow
@pytest.mark.parametrize("what", sorted(WORK))
def test_work_added_after_the_demo_stops_the_rebuild_and_is_named(demo_copy, what):
    folder, env = demo_copy
    command, named = WORK[what]
    done = run(command, cwd=folder, env=env, input="una clave larga y sintética\n")
    assert done.returncode == 0, done.stderr
    refused = run(DEMO, cwd=folder, env=env, timeout=900)
    assert refused.returncode == 1, refused.stdout[-2000:] + refused.stderr[-2000:]
    assert named in refused.stderr and "refusing to delete it" in refused.stderr, refused.stderr
    assert "--force" in refused.stderr
    users = run(("campaign", "users", "list", "--json"), cwd=folder, env=env)
    assert ("ana" in users.stdout) == (what == "a user")  # nothing was deleted
    forced = run((*DEMO, "--force"), cwd=folder, env=env, timeout=900)
    assert forced.returncode == 0, forced.stderr[-2000:]
    assert "ana" not in run(("campaign", "users", "list", "--json"), cwd=folder, env=env).stdout


def test_a_database_that_was_never_a_demo_is_refused_even_without_contacts(tmp_path):
    env = environment(f"sqlite:///{tmp_path / 'var' / 'campaign.db'}")
    assert run(("campaign", "init"), cwd=tmp_path, env=env).returncode == 0
    empty = run(DEMO, cwd=tmp_path, env=env, timeout=900)  # the schema alone: nothing to lose
    assert empty.returncode == 0, empty.stderr[-2000:]
    other = environment(f"sqlite:///{tmp_path / 'real.db'}")
    assert run(("campaign", "init"), cwd=tmp_path, env=other).returncode == 0
    added = run(
        ("campaign", "users", "add", "ana", "--role", "manager", "--password-stdin"),
        cwd=tmp_path,
        env=other,
        input="una clave larga y sintética\n",
    )
    assert added.returncode == 0, added.stderr
    refused = run(DEMO, cwd=tmp_path, env=other)
    assert refused.returncode == 1 and "(1 users)" in refused.stderr, refused.stderr


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.mark.slow
def test_a_server_running_on_the_old_file_stops_serving_it(demo_copy):
    import subprocess
    import time

    from tests.processes import campaign_command

    folder, env = demo_copy
    port = free_port()
    server = subprocess.Popen(
        [*campaign_command(), "serve", "--port", str(port)],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 300
        while True:
            try:
                status, _ = _get(f"{base}/login")
                break
            except OSError:
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        assert status == 200
        rebuilt = run(DEMO, cwd=folder, env=env, timeout=900)
        assert rebuilt.returncode == 0, rebuilt.stderr[-2000:]
        status, body = _get(f"{base}/login")
        assert status == 503 and "Restart `campaign serve`" in body, (status, body)
    finally:
        server.terminate()
        server.wait(timeout=15)
