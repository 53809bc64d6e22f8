"""Photos users send (core.photos): only JPEG, PNG and WebP within 10 MB are stored, once, under their hash."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from support import jpeg, png

from core.events import PhotoProblem
from core.photos import MAX_PHOTO_BYTES, PhotoRejected, image_extension, read_photo_file, store_photo

WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00" + bytes(24)


@pytest.mark.parametrize(("data", "ext"), [(jpeg(1), ".jpg"), (png(1), ".png"), (WEBP, ".webp")])
def test_a_photo_is_stored_under_its_hash_with_the_extension_of_its_content(
    tmp_path: Path, data: bytes, ext: str
) -> None:
    photo = store_photo(data, tmp_path / "media")
    digest = hashlib.sha256(data).hexdigest()
    assert photo.sha256 == digest
    assert Path(photo.path) == (tmp_path / "media" / f"{digest}{ext}").resolve()
    assert Path(photo.path).read_bytes() == data


def test_storing_the_same_photo_again_changes_nothing(tmp_path: Path) -> None:
    first = store_photo(png(7), tmp_path)
    mtime = Path(first.path).stat().st_mtime_ns
    assert store_photo(png(7), tmp_path) == first
    assert Path(first.path).stat().st_mtime_ns == mtime
    assert [p.name for p in tmp_path.iterdir()] == [Path(first.path).name]  # no temporary file left behind


@pytest.mark.parametrize(
    "data",
    [b"hello, not an image at all", b"GIF89a" + bytes(40), b"%PDF-1.7" + bytes(40), b"\xff\xd8\xff", b""],
    ids=["text", "gif", "pdf", "truncated-jpeg", "empty"],
)
def test_anything_but_jpeg_png_or_webp_is_refused_and_nothing_is_written(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(PhotoRejected) as err:
        store_photo(data, tmp_path / "media")
    assert err.value.problem is PhotoProblem.NOT_AN_IMAGE
    assert not (tmp_path / "media").exists()


def test_an_oversize_photo_is_refused_even_with_a_good_header(tmp_path: Path) -> None:
    big = jpeg(1, size=MAX_PHOTO_BYTES + 1)
    with pytest.raises(PhotoRejected) as err:
        store_photo(big, tmp_path)
    assert err.value.problem is PhotoProblem.TOO_LARGE
    assert list(tmp_path.iterdir()) == []
    path = tmp_path / "big.jpg"
    path.write_bytes(big)
    with pytest.raises(PhotoRejected) as err:
        read_photo_file(path)
    assert err.value.problem is PhotoProblem.TOO_LARGE


def test_a_missing_file_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(PhotoRejected) as err:
        read_photo_file(tmp_path / "nope.png")
    assert err.value.problem is PhotoProblem.UNAVAILABLE


def test_the_content_decides_not_the_name() -> None:
    assert image_extension(png(0)) == ".png" and image_extension(jpeg(0)) == ".jpg"
    assert image_extension(b"RIFF\x00\x00\x00\x00WAVEfmt ") is None  # RIFF, but audio
