"""The offline-evaluation dataset on disk: ``courses.jsonl`` and ``interactions.csv`` in one folder.

``courses.jsonl``: one JSON object per line with ``slug``, ``title``, ``summary``,
``description``, ``category``, ``tags`` (a list of strings) and ``language``; optional
``created_at`` (ISO-8601). Courses get ids 1, 2, … in file order. Blank lines are skipped.

``interactions.csv``: header ``user,course,kind,ts``; ``user`` any non-empty label, ``course`` a
slug from ``courses.jsonl``, ``kind`` one of view, buy, complete, like, ``ts`` ISO-8601 (a time
without an offset is taken as UTC, as database exports usually are).

Every problem is reported as :class:`DatasetError` naming the file and the line, because the
operator has to find it in a file of millions of lines.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from core.recommend.courses import CourseDoc
from core.recommend.signals import SIGNALS, InteractionLog

__all__ = ["COURSES_FILE", "INTERACTIONS_FILE", "Dataset", "DatasetError", "load_dataset", "save_dataset"]

COURSES_FILE = "courses.jsonl"
INTERACTIONS_FILE = "interactions.csv"
_HEADER = ["user", "course", "kind", "ts"]
_TEXT_FIELDS = ("slug", "title", "summary", "description", "category", "language")


class DatasetError(ValueError):
    """A problem in the dataset files; the message names the file and line."""


@dataclass(frozen=True)
class Dataset:
    courses: list[CourseDoc]  # ids 1..n in file order
    log: InteractionLog
    user_labels: list[str]  # user id i (1-based) is user_labels[i - 1] in the file


def _parse_time(text: str) -> datetime:
    at = datetime.fromisoformat(text.strip())
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _course(obj: Any, where: str, number: int) -> CourseDoc:
    if not isinstance(obj, dict):
        raise DatasetError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    for name in _TEXT_FIELDS:
        if not isinstance(obj.get(name), str):
            raise DatasetError(f"{where}: {name!r} is missing or not a string")
    if not obj["slug"].strip():
        raise DatasetError(f"{where}: 'slug' is empty")
    tags = obj.get("tags")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise DatasetError(f"{where}: 'tags' must be a list of strings")
    created = None
    if obj.get("created_at") is not None:
        try:
            created = _parse_time(str(obj["created_at"]))
        except ValueError:
            raise DatasetError(f"{where}: 'created_at' is not an ISO-8601 time: {obj['created_at']!r}") from None
    return CourseDoc(
        number,
        obj["slug"],
        obj["title"],
        obj["summary"],
        obj["description"],
        obj["category"],
        tuple(tags),
        obj["language"],
        created,
    )


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with path.open(encoding="utf-8", newline="") as f:
            yield from enumerate(f, start=1)
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None


def load_courses(path: Path) -> list[CourseDoc]:
    courses: list[CourseDoc] = []
    slugs: dict[str, int] = {}
    for number, line in _lines(path):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{where}: bad JSON ({exc.msg} at column {exc.colno})") from None
        course = _course(obj, where, len(courses) + 1)
        if course.slug in slugs:
            raise DatasetError(f"{where}: slug {course.slug!r} already on line {slugs[course.slug]}")
        slugs[course.slug] = number
        courses.append(course)
    if not courses:
        raise DatasetError(f"{path}: no courses")
    return courses


def load_interactions(path: Path, courses: list[CourseDoc]) -> tuple[InteractionLog, list[str]]:
    ids = {c.slug: c.id for c in courses}
    kinds = {s.value: i for i, s in enumerate(SIGNALS)}
    users: dict[str, int] = {}
    cu: list[int] = []
    cc: list[int] = []
    ck: list[int] = []
    ct: list[float] = []
    reader = csv.reader(line for _, line in _lines(path))
    try:
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != _HEADER:
            raise DatasetError(f"{path}:1: the header must be {','.join(_HEADER)}, got {','.join(header or [])!r}")
        for row in reader:
            number = reader.line_num
            if not row:
                continue
            if len(row) != 4:
                raise DatasetError(f"{path}:{number}: expected 4 fields (user,course,kind,ts), got {len(row)}")
            user, slug, kind, ts = row
            course = ids.get(slug.strip())
            if course is None:
                raise DatasetError(f"{path}:{number}: unknown course {slug!r} (not in {COURSES_FILE})")
            code = kinds.get(kind.strip())
            if code is None:
                raise DatasetError(f"{path}:{number}: unknown kind {kind!r} (view, buy, complete or like)")
            try:
                at = _parse_time(ts).timestamp()
            except ValueError:
                raise DatasetError(f"{path}:{number}: ts is not an ISO-8601 time: {ts!r}") from None
            label = user.strip()
            if not label:
                raise DatasetError(f"{path}:{number}: empty user")
            cu.append(users.setdefault(label, len(users) + 1))
            cc.append(course)
            ck.append(code)
            ct.append(at)
    except csv.Error as exc:
        raise DatasetError(f"{path}:{reader.line_num}: bad CSV ({exc})") from None
    log = InteractionLog(np.asarray(cu, np.int64), np.asarray(cc, np.int64), np.asarray(ck, np.int8), np.asarray(ct))
    return log, list(users)


def load_dataset(folder: Path | str) -> Dataset:
    """Read and check both files; raises :class:`DatasetError` on the first problem."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: not a folder")
    courses = load_courses(folder / COURSES_FILE)
    log, labels = load_interactions(folder / INTERACTIONS_FILE, courses)
    return Dataset(courses, log, labels)


def save_dataset(dataset: Dataset, folder: Path | str) -> None:
    """Write both files (the inverse of :func:`load_dataset`; users are written as their labels)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / COURSES_FILE).open("w", encoding="utf-8") as f:
        for c in dataset.courses:
            obj: dict[str, Any] = {name: getattr(c, name) for name in _TEXT_FIELDS}
            obj["tags"] = list(c.tags)
            if c.created_at is not None:
                obj["created_at"] = c.created_at.isoformat()
            f.write(json.dumps(obj, ensure_ascii=False) + "\n")
    slug_of = {c.id: c.slug for c in dataset.courses}
    log = dataset.log
    stamps = np.datetime_as_string((log.at * 1e6).astype("datetime64[us]").astype("datetime64[s]"), timezone="UTC")
    labels = dataset.user_labels
    kinds = [s.value for s in SIGNALS]
    with (folder / INTERACTIONS_FILE).open("w", encoding="utf-8", newline="") as f:
        f.write(",".join(_HEADER) + "\n")
        f.writelines(
            f"{labels[u - 1]},{slug_of[c]},{kinds[k]},{ts}\n"
            for u, c, k, ts in zip(
                log.user_ids.tolist(), log.course_ids.tolist(), log.kinds.tolist(), stamps.tolist(), strict=True
            )
        )
