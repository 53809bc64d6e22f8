"""Tests for the course-folder importer (core.course_import)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from core.catalog import SLUG_RE, DripMode, MediaKind
from core.course_import import (
    CatalogImportError,
    ImportIssue,
    load_catalog,
    stage_media,
)
from core.money import Money

EXAMPLES = Path(__file__).parents[3] / "examples" / "catalog"

COURSE_TOML = 'slug = "demo"\ntitle = "Demo course"\nlanguage = "en"\n'
LESSON = '+++\ntitle = "Intro"\nfree = true\n+++\n\nHello **world**.\n'
# A valid 1x1 PNG, enough for media checks.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108000000003a7e9b55"
    "0000000a49444154789c63f80f00010101001b8a0ad40000000049454e44ae426082"
)


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def make_course(
    folder: Path,
    course_toml: str | bytes = COURSE_TOML,
    lessons: dict[str, str | bytes] | None = None,
) -> Path:
    write(folder / "course.toml", course_toml)
    for name, text in (lessons if lessons is not None else {"01-intro.md": LESSON}).items():
        write(folder / "lessons" / name, text)
    return folder


def lesson(front: str, body: str = "Some text.") -> str:
    return f"+++\n{front}\n+++\n\n{body}\n"


def issues_of(path: Path) -> list[ImportIssue]:
    with pytest.raises(CatalogImportError) as excinfo:
        load_catalog(path)
    assert excinfo.value.issues, "CatalogImportError without issues"
    return excinfo.value.issues


def find(issues: list[ImportIssue], file: str, field: str, *fragments: str) -> ImportIssue:
    """The issue for ``file`` + ``field`` whose message contains every fragment."""
    for issue in issues:
        if issue.file == file and issue.field == field and all(f in issue.message for f in fragments):
            return issue
    listing = "\n".join(map(str, issues))
    raise AssertionError(f"no issue {file!r} / {field!r} / {fragments!r} in:\n{listing}")


# --------------------------------------------------------------------------- the shipped demo catalog


def test_shipped_example_catalog_loads_cleanly() -> None:
    spec = load_catalog(EXAMPLES)
    assert len(spec.courses) >= 6
    langs = [c.language for c in spec.courses]
    assert langs.count("zh") >= 3 and langs.count("en") >= 3
    modes = {c.drip_mode for c in spec.courses}
    assert modes == {DripMode.ALL, DripMode.DAILY, DripMode.ON_COMPLETE}
    for course in spec.courses:
        assert SLUG_RE.match(course.slug)
        assert course.title and course.summary and course.category and course.tags
        assert 3 <= len(course.lessons) <= 5
        assert course.lessons[0].free, course.slug
        assert not any(ls.free for ls in course.lessons[1:]), course.slug
        assert not course.price.is_free
        expected_currency = "CNY" if course.language == "zh" else "USD"
        assert course.price.fiat is not None and course.price.fiat.currency == expected_currency
        assert course.price.stars
    assert any(m for c in spec.courses for ls in c.lessons for m in ls.media if m.caption)
    assert len(spec.plans) == 1
    plan = spec.plans[0]
    assert plan.slug == "all-access" and plan.includes_all and plan.period_days == 30
    assert plan.price.fiat == Money(4900, "CNY") and plan.price.stars == 250


# --------------------------------------------------------------------------- happy paths


def test_single_course_folder_with_defaults(tmp_path: Path) -> None:
    make_course(tmp_path, lessons={"01-intro.md": lesson('title = "  Intro  "', "\n\n  Body text.  \n\n")})
    spec = load_catalog(tmp_path)
    assert spec.plans == ()
    (course,) = spec.courses
    assert (course.slug, course.title, course.language) == ("demo", "Demo course", "en")
    assert (course.summary, course.description, course.category, course.tags) == ("", "", "", ())
    assert course.price.is_free and course.price.fiat is None and course.price.stars is None
    assert (course.drip_mode, course.drip_hour, course.published, course.cover) == (DripMode.ALL, 8, True, None)
    (only,) = course.lessons
    assert (only.slug, only.position, only.title, only.free, only.body) == ("01-intro", 0, "Intro", False, "Body text.")


def test_full_course_toml_is_read(tmp_path: Path) -> None:
    toml = (
        'slug = "py-101"\ntitle = "Python"\nsummary = "S"\ndescription = """\nLong\n"""\n'
        'category = "Code"\ntags = ["python", " code ", "python"]\nlanguage = "zh"\n'
        'cover = "media/cover.png"\npublished = false\n'
        '[price]\namount = 9900\ncurrency = "CNY"\nstars = 500\n'
        '[drip]\nmode = "daily"\nhour = 0\n'
    )
    make_course(tmp_path, toml)
    write(tmp_path / "media" / "cover.png", PNG)
    (course,) = load_catalog(tmp_path).courses
    assert course.price.fiat == Money(9900, "CNY") and course.price.stars == 500
    assert course.tags == ("python", "code")
    assert (course.description, course.published) == ("Long", False)
    assert (course.drip_mode, course.drip_hour) == (DripMode.DAILY, 0)
    assert course.cover is not None and course.cover.kind is MediaKind.PHOTO
    assert course.cover.sha256 == hashlib.sha256(PNG).hexdigest()


def test_stars_only_and_zero_amount_prices(tmp_path: Path) -> None:
    make_course(tmp_path / "a", 'slug = "a"\ntitle = "A"\nlanguage = "en"\n[price]\nstars = 50\n')
    make_course(tmp_path / "b", 'slug = "b"\ntitle = "B"\nlanguage = "en"\n[price]\namount = 0\ncurrency = "USD"\n')
    a, b = load_catalog(tmp_path).courses
    assert a.price.fiat is None and a.price.stars == 50 and not a.price.is_free
    assert b.price.is_free


def test_lessons_are_ordered_by_number_then_name(tmp_path: Path) -> None:
    names = ["10-ten.md", "2-b.md", "02-a.md", "1-one.md", ".hidden.md", ".DS_Store"]
    make_course(tmp_path, lessons={n: lesson(f'title = "{n}"') for n in names})
    (course,) = load_catalog(tmp_path).courses
    assert [ls.slug for ls in course.lessons] == ["1-one", "02-a", "2-b", "10-ten"]
    assert [ls.position for ls in course.lessons] == [0, 1, 2, 3]


def test_media_from_front_matter_and_body(tmp_path: Path) -> None:
    audio = b"ID3 fake audio"
    diagram = PNG + b"diagram"
    front = (
        'title = "Media"\n'
        '[[media]]\npath = "media/photo.png"\ncaption = " A photo "\n'
        '[[media]]\npath = "media/talk.mp3"\n'
    )
    body = (
        "# Heading\n\n![A diagram](media/diagram.png)\n\n"
        "Again: ![dup](media/photo.png) and a [link](media/talk.mp3).\n\n"
        "[web](https://example.com) ![remote](http://x.test/a.png) [top](#top) [mail](mailto:a@b.c)\n\n"
        "```markdown\n![in code](media/not-there.png)\n```\n\nInline `![x](nope.png)` code.\n"
    )
    make_course(tmp_path, lessons={"01-media.md": lesson(front, body)})
    write(tmp_path / "media" / "photo.png", PNG)
    write(tmp_path / "media" / "talk.mp3", audio)
    write(tmp_path / "media" / "diagram.png", diagram)
    (course,) = load_catalog(tmp_path).courses
    media = course.lessons[0].media
    assert [(m.kind, Path(m.source).name, m.caption) for m in media] == [
        (MediaKind.PHOTO, "photo.png", "A photo"),
        (MediaKind.AUDIO, "talk.mp3", ""),
        (MediaKind.PHOTO, "diagram.png", "A diagram"),
    ]
    assert all(Path(m.source).is_absolute() for m in media)
    assert Path(media[2].source) == (tmp_path / "media" / "diagram.png").resolve()
    assert [m.sha256 for m in media] == [hashlib.sha256(b).hexdigest() for b in (PNG, audio, diagram)]
    assert "![A diagram](media/diagram.png)" in course.lessons[0].body  # the body is kept as written


def test_catalog_with_plans(tmp_path: Path) -> None:
    make_course(tmp_path / "one", COURSE_TOML.replace('"demo"', '"one"'))
    make_course(tmp_path / "two", COURSE_TOML.replace('"demo"', '"two"'))
    write(tmp_path / "README.md", "not a course: files at the top are ignored")
    write(tmp_path / "_drafts" / "notes.txt", "folders starting with _ are skipped")
    write(
        tmp_path / "plans.toml",
        '[[plan]]\nslug = "duo"\ntitle = " Duo "\nperiod_days = 365\nincludes = ["two", "one", "two"]\n'
        "published = false\n[plan.price]\nstars = 100\n",
    )
    spec = load_catalog(tmp_path)
    assert [c.slug for c in spec.courses] == ["one", "two"]
    (plan,) = spec.plans
    assert (plan.slug, plan.title, plan.description, plan.period_days) == ("duo", "Duo", "", 365)
    assert (plan.includes_all, plan.course_slugs, plan.published) == (False, ("two", "one"), False)
    assert plan.price.fiat is None and plan.price.stars == 100


@pytest.mark.parametrize("value", ['"-1001234567890"', "-1001234567890", '" -1001234567890 "'])
def test_plan_with_a_telegram_community(tmp_path: Path, value: str) -> None:
    make_course(tmp_path / "demo")
    write(tmp_path / "plans.toml", PLAN_OK.replace("[plan.price]", f"telegram_chat = {value}\n[plan.price]"))
    (plan,) = load_catalog(tmp_path).plans
    assert plan.community_chat == "-1001234567890"


def test_crlf_and_bom_are_accepted(tmp_path: Path) -> None:
    make_course(
        tmp_path, lessons={"01-a.md": b"\xef\xbb\xbf" + lesson('title = "A"', "Body").replace("\n", "\r\n").encode()}
    )
    (course,) = load_catalog(tmp_path).courses
    assert course.lessons[0].title == "A" and course.lessons[0].body == "Body"


def test_hundred_course_catalog_loads_fast(tmp_path: Path) -> None:
    for i in range(100):
        make_course(
            tmp_path / f"c{i:03}",
            COURSE_TOML.replace('"demo"', f'"c{i:03}"'),
            {f"{n:02}-lesson.md": lesson(f'title = "L{n}"', "Text " * 50) for n in range(1, 6)},
        )
    started = time.perf_counter()
    spec = load_catalog(tmp_path)
    assert time.perf_counter() - started < 1.0
    assert len(spec.courses) == 100


# --------------------------------------------------------------------------- course.toml errors


@pytest.mark.parametrize(
    ("toml", "field", "fragments"),
    [
        ('slug = "demo"\nlanguage = "en"\n', "title", ("missing",)),
        ('slug = "demo"\ntitle = "  "\nlanguage = "en"\n', "title", ("must not be empty",)),
        ('title = "T"\nlanguage = "en"\n', "slug", ("missing",)),
        ('slug = "Python 101"\ntitle = "T"\nlanguage = "en"\n', "slug", ("invalid slug 'Python 101'",)),
        ('slug = "demo"\ntitle = "T"\n', "language", ("missing",)),
        ('slug = "demo"\ntitle = "T"\nlanguage = "fr"\n', "language", ("unknown language 'fr'",)),
        (COURSE_TOML + "titel = 'x'\n", "titel", ("unknown key", "did you mean 'title'")),
        (COURSE_TOML + "tags = 'python'\n", "tags", ("must be an array of strings",)),
        (COURSE_TOML + 'tags = ["ok", ""]\n', "tags[1]", ("non-empty string",)),
        (COURSE_TOML + 'tags = ["ok", 3]\n', "tags[1]", ("non-empty string", "integer 3")),
        (COURSE_TOML + 'published = "yes"\n', "published", ("true or false", "string 'yes'")),
        (COURSE_TOML + "summary = 3\n", "summary", ("must be a string",)),
        (COURSE_TOML + f'category = "{"x" * 65}"\n', "category", ("too long",)),
        (COURSE_TOML + "price = 99\n", "price", ("must be a table",)),
        (COURSE_TOML + '[price]\namount = -100\ncurrency = "CNY"\n', "price.amount", ("must be >= 0 (got -100)",)),
        (COURSE_TOML + "[price]\namount = 9900\n", "price.currency", ("missing", "go together")),
        (COURSE_TOML + '[price]\ncurrency = "CNY"\n', "price.amount", ("missing", "go together")),
        (COURSE_TOML + '[price]\namount = 9900\ncurrency = "ABC"\n', "price.currency", ("unknown currency 'ABC'",)),
        (COURSE_TOML + '[price]\namount = 9900\ncurrency = "cny"\n', "price.currency", ("did you mean 'CNY'",)),
        (
            COURSE_TOML + '[price]\namount = 500\ncurrency = "XTR"\n',
            "price.currency",
            ("Telegram Stars", "price.stars"),
        ),
        (
            COURSE_TOML + '[price]\namount = 9.9\ncurrency = "CNY"\n',
            "price.amount",
            ("must be an integer", "float 9.9"),
        ),
        (
            COURSE_TOML + '[price]\namount = "99"\ncurrency = "CNY"\n',
            "price.amount",
            ("string '99'", "remove the quotes"),
        ),
        (COURSE_TOML + '[price]\namount = true\ncurrency = "CNY"\n', "price.amount", ("must be an integer", "boolean")),
        (COURSE_TOML + "[price]\nstars = 0\n", "price.stars", ("must be >= 1 (got 0)",)),
        (COURSE_TOML + "[price]\nstars = true\n", "price.stars", ("must be an integer",)),
        (COURSE_TOML + "[price]\nammount = 1\n", "price.ammount", ("unknown key", "did you mean 'amount'")),
        (
            COURSE_TOML + '[drip]\nmode = "weekly"\n',
            "drip.mode",
            ("unknown mode 'weekly'", "all, daily or on_complete"),
        ),
        (COURSE_TOML + "[drip]\nmode = 1\n", "drip.mode", ("must be a string",)),
        (COURSE_TOML + "[drip]\nhour = 24\n", "drip.hour", ("between 0 and 23 (got 24)",)),
        (COURSE_TOML + "[drip]\nhour = -1\n", "drip.hour", ("between 0 and 23",)),
        (COURSE_TOML + "[drip]\nhour = 8.5\n", "drip.hour", ("must be an integer",)),
        (COURSE_TOML + '[drip]\nmode = "daily"\nhours = 8\n', "drip.hours", ("unknown key", "'hour'")),
        (COURSE_TOML + 'cover = "media/nope.png"\n', "cover", ("file not found: media/nope.png",)),
        (COURSE_TOML + 'cover = "../outside.png"\n', "cover", ("escapes the course folder",)),
        (COURSE_TOML + 'cover = "lessons/01-intro.md"\n', "cover", ("must be an image",)),
    ],
)
def test_course_toml_errors(tmp_path: Path, toml: str, field: str, fragments: tuple[str, ...]) -> None:
    make_course(tmp_path / "course", toml)
    write(tmp_path / "outside.png", PNG)
    issues = issues_of(tmp_path / "course")
    find(issues, "course.toml", field, *fragments)


def test_issue_string_format(tmp_path: Path) -> None:
    make_course(tmp_path / "python-101", COURSE_TOML + '[price]\namount = -100\ncurrency = "CNY"\n')
    make_course(tmp_path / "other", COURSE_TOML.replace('"demo"', '"other"').replace("title", "# title"))
    with pytest.raises(CatalogImportError) as excinfo:
        load_catalog(tmp_path)
    text = str(excinfo.value)
    assert "python-101/course.toml: price.amount: must be >= 0 (got -100)" in text.splitlines()
    assert "other/course.toml: title: missing" in text.splitlines()
    assert len(text.splitlines()) == len(excinfo.value.issues) == 2


def test_bad_toml_syntax_names_file_and_line(tmp_path: Path) -> None:
    make_course(tmp_path, 'slug = "demo"\ntitle = "Demo\nlanguage = "en"\n')
    issue = find(issues_of(tmp_path), "course.toml", "syntax", "invalid TOML", "line 2")
    assert str(issue).startswith("course.toml: syntax: invalid TOML")


def test_non_utf8_course_toml(tmp_path: Path) -> None:
    make_course(tmp_path, COURSE_TOML.replace("Demo course", "课程").encode("gbk"))
    find(issues_of(tmp_path), "course.toml", "encoding", "not valid UTF-8")


# --------------------------------------------------------------------------- lesson errors

LESSON_FILE = "lessons/01-intro.md"


@pytest.mark.parametrize(
    ("text", "field", "fragments"),
    [
        ("# Just Markdown\n", "front matter", ("missing (the file must start with a +++ line)",)),
        ("\n+++\ntitle = 'x'\n+++\nBody\n", "front matter", ("missing",)),
        ("---\ntitle: x\n---\nBody\n", "front matter", ("missing", "found '---'")),
        ("+++\ntitle = 'x'\n\nBody without a closing line\n", "front matter", ("not closed",)),
        ('+++\ntitle = "x"\nfree = \n+++\nBody\n', "front matter", ("invalid TOML", "line 3")),
        (lesson("free = true"), "title", ("missing",)),
        (lesson('title = ""'), "title", ("must not be empty",)),
        (lesson("title = 3"), "title", ("must be a string",)),
        (lesson('title = "x"\nfree = "yes"'), "free", ("true or false", "string 'yes'")),
        (lesson('title = "x"\nfree = 1'), "free", ("true or false", "integer 1")),
        (lesson('title = "x"\ntitel = "y"'), "titel", ("unknown key",)),
        (lesson('title = "x"', "   \n\n"), "body", ("empty",)),
        (lesson('title = "x"\nmedia = "media/a.png"'), "media", ("array of tables",)),
        (lesson('title = "x"\n[[media]]\ncaption = "c"'), "media[0].path", ("missing",)),
        (lesson('title = "x"\n[[media]]\npath = "media/ok.png"\nalt = "c"'), "media[0].alt", ("unknown key",)),
        (lesson('title = "x"\n[[media]]\npath = "media/nope.png"'), "media", ("file not found: media/nope.png",)),
        (
            lesson('title = "x"\n[[media]]\npath = "../secret.png"'),
            "media",
            ("escapes the course folder: ../secret.png",),
        ),
        (lesson('title = "x"\n[[media]]\npath = "media/../../secret.png"'), "media", ("escapes the course folder",)),
        (lesson('title = "x"\n[[media]]\npath = "/etc/passwd"'), "media", ("absolute paths are not allowed",)),
        (lesson('title = "x"\n[[media]]\npath = "media"'), "media", ("not a file",)),
        (
            lesson('title = "x"', "See ![diagram](media/nope.png)."),
            "body",
            ("file not found: media/nope.png", "line 5"),
        ),
        (lesson('title = "x"', "Read [the notes](notes/missing.pdf)."), "body", ("file not found: notes/missing.pdf",)),
        (lesson('title = "x"', "![x](../secret.png)"), "body", ("escapes the course folder: ../secret.png",)),
        (lesson('title = "x"', "![x](/abs/pic.png)"), "body", ("absolute paths are not allowed",)),
    ],
)
def test_lesson_errors(tmp_path: Path, text: str, field: str, fragments: tuple[str, ...]) -> None:
    course = make_course(tmp_path / "course", lessons={"01-intro.md": text})
    write(course / "media" / "ok.png", PNG)
    write(tmp_path / "secret.png", PNG)
    find(issues_of(course), LESSON_FILE, field, *fragments)


def test_non_utf8_lesson(tmp_path: Path) -> None:
    make_course(tmp_path, lessons={"01-intro.md": lesson('title = "简介"').encode("gbk")})
    find(issues_of(tmp_path), LESSON_FILE, "encoding", "not valid UTF-8")


def test_symlink_escaping_the_course_folder_is_rejected(tmp_path: Path) -> None:
    course = make_course(tmp_path / "course", lessons={"01-intro.md": lesson('title = "x"', "![x](media/link.png)")})
    write(tmp_path / "secret.png", PNG)
    (course / "media").mkdir()
    try:
        os.symlink(tmp_path / "secret.png", course / "media" / "link.png")
    except (OSError, NotImplementedError):
        pytest.skip("symlinks not supported here")
    find(issues_of(course), LESSON_FILE, "body", "escapes the course folder")


def test_bad_lesson_filename(tmp_path: Path) -> None:
    make_course(tmp_path, lessons={"01-intro.md": LESSON, "intro.md": LESSON, "02-notes.txt": "x", "03-.md": LESSON})
    issues = issues_of(tmp_path)
    for name in ("intro.md", "02-notes.txt", "03-.md"):
        find(issues, f"lessons/{name}", "file name", "NN-name.md")


def test_folder_inside_lessons_is_an_error(tmp_path: Path) -> None:
    make_course(tmp_path)
    write(tmp_path / "lessons" / "part2" / "01-x.md", LESSON)
    find(issues_of(tmp_path), "lessons/part2", "", "unexpected folder")


def test_course_with_no_lessons(tmp_path: Path) -> None:
    make_course(tmp_path / "empty", lessons={})
    (tmp_path / "empty" / "lessons").mkdir()
    find(issues_of(tmp_path / "empty"), "course.toml", "lessons", "no lessons")
    make_course(tmp_path / "nofolder", lessons={})
    find(issues_of(tmp_path / "nofolder"), "course.toml", "lessons", "missing")


# --------------------------------------------------------------------------- catalog and plans errors


def test_duplicate_course_slug(tmp_path: Path) -> None:
    make_course(tmp_path / "a")
    make_course(tmp_path / "b")
    find(issues_of(tmp_path), "b/course.toml", "slug", "duplicate course slug 'demo'", "a/course.toml")


def test_catalog_subfolder_without_course_toml(tmp_path: Path) -> None:
    make_course(tmp_path / "good")
    (tmp_path / "typo").mkdir()
    write(tmp_path / "typo" / "course.tml", COURSE_TOML)
    find(issues_of(tmp_path), "typo", "", "no course.toml")


PLAN_OK = '[[plan]]\nslug = "p"\ntitle = "P"\nperiod_days = 30\nincludes = ["*"]\n[plan.price]\nstars = 10\n'


@pytest.mark.parametrize(
    ("plans", "field", "fragments"),
    [
        (PLAN_OK.replace('["*"]', '["demo", "nope"]'), "plan[p].includes", ("unknown course 'nope'",)),
        (PLAN_OK.replace('["*"]', "[]"), "plan[p].includes", ("must not be empty",)),
        (PLAN_OK.replace('["*"]', '["*", "demo"]'), "plan[p].includes", ("cannot be combined",)),
        (PLAN_OK.replace('includes = ["*"]\n', ""), "plan[p].includes", ("missing",)),
        (PLAN_OK.split("[plan.price]")[0], "plan[p].price", ("missing", "must have a price")),
        (PLAN_OK.replace("stars = 10", 'amount = 0\ncurrency = "CNY"'), "plan[p].price", ("cannot be free",)),
        (PLAN_OK.replace("stars = 10", "stars = 0"), "plan[p].price.stars", (">= 1",)),
        (PLAN_OK.replace("stars = 10", 'amount = 100\ncurrency = "XTR"'), "plan[p].price.currency", ("Stars",)),
        (PLAN_OK.replace("period_days = 30", "period_days = 0"), "plan[p].period_days", ("between 1 and 3660",)),
        (PLAN_OK.replace("period_days = 30", "period_days = 3661"), "plan[p].period_days", ("between 1 and 3660",)),
        (PLAN_OK.replace("period_days = 30\n", ""), "plan[p].period_days", ("missing",)),
        (PLAN_OK.replace('title = "P"\n', ""), "plan[p].title", ("missing",)),
        (PLAN_OK.replace('slug = "p"', 'slug = "All Access"'), "plan[#1].slug", ("invalid slug",)),
        (PLAN_OK + PLAN_OK, "plan[p].slug", ("duplicate plan slug 'p'",)),
        (PLAN_OK.replace("[plan.price]", "periode = 1\n[plan.price]"), "plan[p].periode", ("unknown key",)),
        ("[[plans]]\nslug = 'p'\n", "plans", ("unknown key", "'plan'")),
        (
            PLAN_OK.replace("[plan.price]", 'telegram_chat = "@mygroup"\n[plan.price]'),
            "plan[p].telegram_chat",
            ("numeric",),
        ),
        (PLAN_OK.replace("[plan.price]", "telegram_chat = true\n[plan.price]"), "plan[p].telegram_chat", ("numeric",)),
        ("[[plan]]\nslug = 'p'\ntitle = \n", "syntax", ("invalid TOML", "line 3")),
    ],
)
def test_plan_errors(tmp_path: Path, plans: str, field: str, fragments: tuple[str, ...]) -> None:
    make_course(tmp_path / "demo")
    write(tmp_path / "plans.toml", plans)
    find(issues_of(tmp_path), "plans.toml", field, *fragments)


def test_plan_includes_course_with_other_errors_is_not_reported_unknown(tmp_path: Path) -> None:
    make_course(tmp_path / "demo", COURSE_TOML + "[price]\nstars = 0\n")
    write(tmp_path / "plans.toml", PLAN_OK.replace('["*"]', '["demo"]'))
    issues = issues_of(tmp_path)
    assert [i.field for i in issues] == ["price.stars"]


def test_path_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    (issue,) = issues_of(missing)
    assert issue.file == str(missing) and "does not exist" in issue.message


def test_path_is_a_file(tmp_path: Path) -> None:
    file = write(tmp_path / "course.toml", COURSE_TOML)
    (issue,) = issues_of(file)
    assert issue.file == str(file) and "is not a folder" in issue.message


def test_folder_without_any_course_toml(tmp_path: Path) -> None:
    write(tmp_path / "notes" / "readme.md", "hello")
    (issue,) = issues_of(tmp_path)
    assert issue.file == str(tmp_path) and "no course.toml found" in issue.message


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    make_course(
        tmp_path / "one",
        'slug = "one"\nlanguage = "de"\n[price]\namount = -1\ncurrency = "CNY"\n[drip]\nmode = "weekly"\n',
        {
            "01-a.md": "no front matter",
            "02-b.md": lesson('title = "B"\nfree = "yes"', "![x](media/nope.png)"),
            "notes.md": "x",
        },
    )
    make_course(tmp_path / "two", 'slug = "one"\ntitle = "Two"\nlanguage = "en"\n[price]\nstars = 0\n')
    write(tmp_path / "plans.toml", PLAN_OK.replace('["*"]', '["ghost"]').split("[plan.price]")[0])
    issues = issues_of(tmp_path)
    expected = [
        ("one/course.toml", "title"),
        ("one/course.toml", "language"),
        ("one/course.toml", "price.amount"),
        ("one/course.toml", "drip.mode"),
        ("one/lessons/01-a.md", "front matter"),
        ("one/lessons/02-b.md", "free"),
        ("one/lessons/02-b.md", "body"),
        ("one/lessons/notes.md", "file name"),
        ("two/course.toml", "price.stars"),
        ("two/course.toml", "slug"),
        ("plans.toml", "plan[p].includes"),
        ("plans.toml", "plan[p].price"),
    ]
    got = {(i.file, i.field) for i in issues}
    assert set(expected) <= got, "\n".join(map(str, issues))
    assert len(issues) == len(expected), "\n".join(map(str, issues))


# --------------------------------------------------------------------------- stage_media


def test_stage_media_is_content_addressed_and_idempotent(tmp_path: Path) -> None:
    course = make_course(
        tmp_path / "course",
        COURSE_TOML + 'cover = "media/cover.png"\n',
        {
            "01-a.md": lesson('title = "A"\n[[media]]\npath = "media/a.png"', "![same](media/copy.png)"),
            "02-b.md": lesson('title = "B"\n[[media]]\npath = "media/talk.MP3"'),
        },
    )
    write(course / "media" / "cover.png", PNG + b"cover")
    write(course / "media" / "a.png", PNG)
    write(course / "media" / "copy.png", PNG)  # same bytes as a.png: stored once
    write(course / "media" / "talk.MP3", b"audio")
    spec = load_catalog(course)
    store = tmp_path / "var" / "media"

    stored = stage_media(spec, store)
    digests = {hashlib.sha256(b).hexdigest(): b for b in (PNG + b"cover", PNG, b"audio")}
    assert set(stored) == set(digests)
    for digest, content in digests.items():
        path = Path(stored[digest])
        assert path.is_absolute() and path.parent == store.resolve()
        assert path.stem == digest and path.read_bytes() == content
    assert Path(stored[hashlib.sha256(b"audio").hexdigest()]).suffix == ".mp3"
    assert sorted(p.name for p in store.iterdir()) == sorted(Path(p).name for p in stored.values())

    mtimes = {p: p.stat().st_mtime_ns for p in store.iterdir()}
    assert stage_media(spec, store) == stored
    assert {p: p.stat().st_mtime_ns for p in store.iterdir()} == mtimes


def test_stage_media_refuses_a_file_changed_after_validation(tmp_path: Path) -> None:
    course = make_course(tmp_path / "course", lessons={"01-a.md": lesson('title = "A"', "![x](media/a.png)")})
    write(course / "media" / "a.png", PNG)
    spec = load_catalog(course)
    write(course / "media" / "a.png", PNG + b"edited")
    with pytest.raises(CatalogImportError, match="changed since it was validated"):
        stage_media(spec, tmp_path / "store")
    assert list((tmp_path / "store").iterdir()) == []


def test_error_is_picklable_and_lists_issues() -> None:
    import pickle

    err = CatalogImportError([ImportIssue("a.toml", "title", "missing"), ImportIssue("/x", "", "does not exist")])
    assert str(err) == "a.toml: title: missing\n/x: does not exist"
    again = pickle.loads(pickle.dumps(err))
    assert again.issues == err.issues
