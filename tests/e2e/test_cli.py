"""The command line as an operator uses it: real subprocesses, piped stdin, exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

import bot
from storage.tables import CourseRow, LessonRow

ROOT = Path(__file__).resolve().parents[2]


def run(
    args: list[str], env: dict[str, str], stdin: str = "", cwd: Path = ROOT, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "bot.py"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
    )


@pytest.fixture
def env(app: bot.App, tmp_path: Path) -> dict[str, str]:
    """The subprocess talks to the same (emptied) test database as ``app``."""
    e = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "ADMINS")}
    e.update(DATABASE_URL=app.settings.database_url, MEDIA_DIR=str(tmp_path / "media"), LANG="C.UTF-8")
    if app.settings.redis_url:
        e["REDIS_URL"] = app.settings.redis_url
    return e


async def counts(app: bot.App) -> tuple[int, int]:
    async with app.db.engine.connect() as conn:
        courses = (await conn.execute(select(func.count()).select_from(CourseRow))).scalar_one()
        lessons = (await conn.execute(select(func.count()).select_from(LessonRow))).scalar_one()
    return int(courses), int(lessons)


def test_help_lists_every_command(env: dict[str, str]) -> None:
    result = run(["--help"], env)
    assert result.returncode == 0
    for command in ("demo", "chat", "run", "import", "db", "grant"):
        assert command in result.stdout


def test_bad_arguments_exit_2_with_a_message(env: dict[str, str]) -> None:
    result = run(["run", "--role", "everything"], env)
    assert result.returncode == 2 and "invalid choice" in result.stderr
    result = run(["chat", "--lang", "fr"], env)
    assert result.returncode == 2


async def test_import_is_idempotent(app: bot.App, env: dict[str, str]) -> None:
    first = run(["import", str(ROOT / "examples" / "catalog")], env)
    assert first.returncode == 0, first.stderr
    assert "courses 6 new, 0 updated" in first.stdout
    before = await counts(app)
    second = run(["import", str(ROOT / "examples" / "catalog")], env)
    assert second.returncode == 0 and "courses 0 new, 6 updated" in second.stdout
    assert await counts(app) == before
    single = run(["import", str(ROOT / "examples" / "catalog" / "python-basics")], env)
    assert single.returncode == 0 and "courses 0 new, 1 updated" in single.stdout
    assert await counts(app) == before


async def test_bad_import_names_file_and_field_and_changes_nothing(
    app: bot.App, env: dict[str, str], tmp_path: Path
) -> None:
    assert run(["import", str(ROOT / "examples" / "catalog")], env).returncode == 0
    before = await counts(app)
    course = tmp_path / "broken" / "c1"
    (course / "lessons").mkdir(parents=True)
    (course / "course.toml").write_text(
        'slug = "c1"\ntitle = "C1"\nlanguage = "en"\n[price]\namount = -100\ncurrency = "USD"\n'
    )
    (course / "lessons" / "01-a.md").write_text("no front matter here\n")
    result = run(["import", str(tmp_path / "broken")], env)
    assert result.returncode == 2
    assert "nothing was imported" in result.stderr
    assert "c1/course.toml: price.amount" in result.stderr
    assert "c1/lessons/01-a.md: front matter" in result.stderr
    assert await counts(app) == before
    missing = run(["import", str(tmp_path / "nope")], env)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_chat_with_piped_stdin_exits_0_at_eof(env: dict[str, str]) -> None:
    assert run(["import", str(ROOT / "examples" / "catalog")], env).returncode == 0
    result = run(
        ["chat", "--user", "piper", "--lang", "en"], env, stdin="/start\n1\n/help\n\n/buy python-basics\n1\n/my\n"
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Welcome to KnowledgeSea" in out
    assert "Course catalog (6)" in out  # "1" pressed the Catalog button
    assert "Invoice: Python for Beginners" in out
    assert "Payment received: Python for Beginners" in out
    assert "lifetime access" in out
    assert ">" not in out.splitlines()[0]  # no interactive prompt when piped


def test_chat_in_chinese(env: dict[str, str]) -> None:
    assert run(["import", str(ROOT / "examples" / "catalog")], env).returncode == 0
    result = run(["chat", "--user", "li", "--lang", "zh"], env, stdin="/catalog\n/course python-basics-zh\n")
    assert result.returncode == 0
    assert "课程目录" in result.stdout and "¥99.00" in result.stdout and "免费试看" in result.stdout


async def test_grant_roles(app: bot.App, env: dict[str, str]) -> None:
    ok = run(["grant", "telegram:12345", "creator"], env)
    assert ok.returncode == 0 and "creator" in ok.stdout
    from core.users import Ref, Role

    async with app.uow() as uow:
        user = await uow.users.get_by_ref(Ref.parse("telegram:12345"))
    assert user is not None and user.role is Role.CREATOR
    bad_ref = run(["grant", "icq:1", "admin"], env)
    assert bad_ref.returncode == 2 and "bad REF" in bad_ref.stderr
    bad_role = run(["grant", "telegram:1", "king"], env)
    assert bad_role.returncode == 2 and "unknown role" in bad_role.stderr


def test_multi_process_role_needs_redis(env: dict[str, str]) -> None:
    env = {k: v for k, v in env.items() if k != "REDIS_URL"}
    result = run(["run", "--role", "worker"], env)
    assert result.returncode == 2
    assert "REDIS_URL" in result.stderr


def test_bad_configuration_is_reported(env: dict[str, str]) -> None:
    result = run(["db", "upgrade"], {**env, "HTTP_PORT": "not-a-port"})
    assert result.returncode == 2 and "http_port" in result.stderr.lower()
    result = run(["db", "upgrade"], {**env, "ADMINS": "console:ok,nonsense"})
    assert result.returncode == 2 and "bad REF" in result.stderr


def test_demo_from_a_fresh_directory(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "MEDIA_DIR")}
    result = run(["demo", "--lang", "en"], env, stdin="/catalog\n/plans\n", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "var" / "knowledgesea.db").exists()
    assert "Course catalog (6)" in result.stdout and "All-Access" in result.stdout
    again = run(["demo", "--lang", "en"], env, stdin="/catalog\n", cwd=tmp_path)  # re-seeding never duplicates
    assert again.returncode == 0 and "Course catalog (6)" in again.stdout
