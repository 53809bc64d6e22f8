"""``python bot.py recommend --evaluate DIR`` as an operator runs it: a real subprocess, stdout, stderr, exit code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core.recommend.dataset import save_dataset
from examples.recsys.generate import generate

ROOT = Path(__file__).resolve().parents[2]
METRICS = ["precision@10", "recall@10", "coverage", "popularity_precision@10", "fit_seconds"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    # Offline: no database or channel settings are needed, so none are given.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")} | {"LANG": "C.UTF-8"}
    return subprocess.run(
        [sys.executable, str(ROOT / "bot.py"), *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_prints_one_metric_per_line(tmp_path: Path) -> None:
    save_dataset(generate(users=2000, courses=300, interactions=60_000, seed=7).dataset, tmp_path)
    result = run("recommend", "--evaluate", str(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(" ")[0] for line in lines] == METRICS
    values = {name: float(value) for name, value in (line.split(" ") for line in lines)}
    assert values["precision@10"] >= 2 * values["popularity_precision@10"] > 0
    assert 0.3 <= values["coverage"] <= 1 and values["fit_seconds"] > 0


def test_bad_input_is_one_message_naming_the_line_and_exit_2(tmp_path: Path) -> None:
    save_dataset(generate(users=200, courses=100, interactions=2000, seed=5).dataset, tmp_path)
    csv = tmp_path / "interactions.csv"
    lines = csv.read_text(encoding="utf-8").splitlines()
    lines[41] = "7,no-such-course,buy,2026-01-01T00:00:00Z"
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    result = run("recommend", "--evaluate", str(tmp_path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == before  # nothing written
    assert f"{csv}:42: unknown course 'no-such-course'" in result.stderr
    assert "Traceback" not in result.stderr
    (tmp_path / "courses.jsonl").unlink()
    result = run("recommend", "--evaluate", str(tmp_path))
    assert result.returncode == 2 and "courses.jsonl: no such file" in result.stderr and result.stdout == ""


def test_recommend_needs_an_action() -> None:
    result = run("recommend")
    assert result.returncode == 2 and "--evaluate" in result.stderr
