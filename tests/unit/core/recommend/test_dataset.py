"""The evaluation files: read back what was written; every problem named with its file and line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.recommend.dataset import DatasetError, load_dataset, save_dataset
from examples.recsys.generate import generate

COURSE = {
    "slug": "tea",
    "title": "茶艺入门",
    "summary": "s",
    "description": "d",
    "category": "生活",
    "tags": ["茶艺"],
    "language": "zh",
}


def write(folder: Path, courses: list[str], interactions: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "courses.jsonl").write_text("".join(line + "\n" for line in courses), encoding="utf-8")
    (folder / "interactions.csv").write_text("".join(line + "\n" for line in interactions), encoding="utf-8")
    return folder


def ok_courses() -> list[str]:
    return [json.dumps(COURSE, ensure_ascii=False), json.dumps(COURSE | {"slug": "py"}, ensure_ascii=False)]


def test_round_trip(tmp_path: Path) -> None:
    synthetic = generate(users=300, courses=120, interactions=3000, seed=2)
    save_dataset(synthetic.dataset, tmp_path)
    back = load_dataset(tmp_path)
    assert back.courses == synthetic.dataset.courses
    assert np.array_equal(back.log.course_ids, synthetic.dataset.log.course_ids)
    assert np.array_equal(back.log.kinds, synthetic.dataset.log.kinds)
    assert np.array_equal(back.log.at, synthetic.dataset.log.at)
    assert [back.user_labels[u - 1] for u in back.log.user_ids[:50]] == [
        str(u) for u in synthetic.dataset.log.user_ids[:50]
    ]


def test_a_time_without_offset_is_utc_and_blank_lines_are_skipped(tmp_path: Path) -> None:
    folder = write(
        tmp_path,
        ["", *ok_courses()],
        ["user,course,kind,ts", "a,tea,view,2026-01-01T00:00:00", "", "b,py,like,2026-01-01T08:00:00+08:00"],
    )
    d = load_dataset(folder)
    assert d.log.at.tolist() == [1767225600.0, 1767225600.0]
    assert d.user_labels == ["a", "b"] and d.log.course_ids.tolist() == [1, 2]


@pytest.mark.parametrize(
    ("courses", "interactions", "where", "what"),
    [
        (["{not json"], [], "courses.jsonl:1", "bad JSON"),
        ([json.dumps(COURSE), json.dumps(COURSE)], [], "courses.jsonl:2", "already on line 1"),
        ([json.dumps(COURSE | {"tags": "茶"})], [], "courses.jsonl:1", "'tags'"),
        ([json.dumps({k: v for k, v in COURSE.items() if k != "title"})], [], "courses.jsonl:1", "'title'"),
        (["[1, 2]"], [], "courses.jsonl:1", "JSON object"),
        (None, ["user,course,when"], "interactions.csv:1", "header"),
        (
            None,
            ["user,course,kind,ts", "1,tea,view,2026-01-01", "2,nope,view,2026-01-01"],
            "interactions.csv:3",
            "unknown course 'nope'",
        ),
        (None, ["user,course,kind,ts", "1,tea,rate,2026-01-01"], "interactions.csv:2", "unknown kind 'rate'"),
        (None, ["user,course,kind,ts", "1,tea,view,yesterday"], "interactions.csv:2", "ISO-8601"),
        (None, ["user,course,kind,ts", "1,tea,view"], "interactions.csv:2", "expected 4 fields"),
        (None, ["user,course,kind,ts", ",tea,view,2026-01-01"], "interactions.csv:2", "empty user"),
        (None, ["user,course,kind,ts", '1,"tea,view,2026-01-01'], "interactions.csv", "expected 4 fields"),
    ],
)
def test_bad_input_names_the_file_and_line(
    tmp_path: Path, courses: list[str] | None, interactions: list[str], where: str, what: str
) -> None:
    folder = write(tmp_path, ok_courses() if courses is None else courses, interactions or ["user,course,kind,ts"])
    with pytest.raises(DatasetError) as info:
        load_dataset(folder)
    assert where in str(info.value) and what in str(info.value)


def test_missing_files(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not a folder"):
        load_dataset(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match=r"courses\.jsonl: no such file"):
        load_dataset(tmp_path)
    (tmp_path / "courses.jsonl").write_text(ok_courses()[0] + "\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"interactions\.csv: no such file"):
        load_dataset(tmp_path)
