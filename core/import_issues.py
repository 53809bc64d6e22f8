"""How the course importer reports problems: every one, each pinned to a file and field.

Contract
--------
An :class:`ImportIssue` names the file (relative to the imported folder,
``/``-separated), the field and what is wrong; :class:`CatalogImportError`
carries **all** of them. While checking, the importer collects issues in an
:class:`Issues` list instead of raising, so a single run reports everything.
:func:`describe` and :func:`toml_position` phrase what the author actually
wrote and where; :func:`read_text` reads an author's file as text and turns
I/O and encoding failures into issues rather than exceptions.

Why
---
Authors fix their course folders from these messages alone, so each one must
say where the problem is and what was found, in the author's terms (``string
'99'``, the real line of a lesson's front matter), not Python's.

Only the standard library is used here.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path

__all__ = [
    "CatalogImportError",
    "ImportIssue",
    "Issues",
    "describe",
    "read_text",
    "toml_position",
]

_TOML_POS_RE = re.compile(r"\(at line (\d+), column (\d+)\)")


@dataclass(frozen=True)
class ImportIssue:
    """One problem: which file, which field, what is wrong."""

    file: str  # relative to the imported folder, "/"-separated
    field: str  # dotted key ("price.amount"), "front matter", "body", ... or "" for the file itself
    message: str

    def __str__(self) -> str:
        parts = [p for p in (self.file, self.field) if p]
        return ": ".join([*parts, self.message])


class CatalogImportError(Exception):
    """Raised by :func:`core.course_import.load_catalog` with every issue found (never just the first)."""

    def __init__(self, issues: Sequence[ImportIssue]) -> None:
        self.issues: list[ImportIssue] = list(issues)
        super().__init__(self.issues)

    def __str__(self) -> str:
        return "\n".join(str(issue) for issue in self.issues)


# --------------------------------------------------------------------------- collecting & phrasing


class Issues:
    """The issues found so far, in order; ``len()`` tells a checker whether it added any."""

    def __init__(self) -> None:
        self.items: list[ImportIssue] = []

    def add(self, file: str, field: str, message: str) -> None:
        self.items.append(ImportIssue(file, field, message))

    def __len__(self) -> int:
        return len(self.items)


def describe(value: object) -> str:
    """``string '99'``, ``float 9.9``: what the author actually wrote."""
    if isinstance(value, bool):
        kind = "boolean"
        shown = "true" if value else "false"
    elif isinstance(value, int):
        kind, shown = "integer", str(value)
    elif isinstance(value, float):
        kind, shown = "float", repr(value)
    elif isinstance(value, str):
        kind, shown = "string", repr(value if len(value) <= 40 else value[:37] + "...")
    elif isinstance(value, list):
        kind, shown = "array", f"of {len(value)} item{'s' if len(value) != 1 else ''}"
    elif isinstance(value, dict):
        kind, shown = "table", "{...}"
    elif isinstance(value, (datetime, date, time)):
        kind, shown = "date/time", value.isoformat()
    else:  # pragma: no cover - tomllib produces nothing else
        kind, shown = type(value).__name__, repr(value)
    return f"{kind} {shown}"


def toml_position(exc: tomllib.TOMLDecodeError, line_offset: int = 0) -> str:
    """The tomllib message, with its line number shifted to the real file line."""
    message = str(exc)
    if line_offset:
        message = _TOML_POS_RE.sub(lambda m: f"(at line {int(m.group(1)) + line_offset}, column {m.group(2)})", message)
    return message


def read_text(path: Path, file: str, issues: Issues) -> str | None:
    """The file as UTF-8 text with ``\n`` line ends; ``None`` (and an issue) if unreadable."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        issues.add(file, "", f"cannot read the file ({exc.strerror or exc})")
        return None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 1].hex()
        issues.add(file, "encoding", f"not valid UTF-8 (byte 0x{bad} at offset {exc.start}); save the file as UTF-8")
        return None
    return text.replace("\r\n", "\n").replace("\r", "\n")
