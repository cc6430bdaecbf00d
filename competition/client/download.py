"""Fetch a competition's data from its grader: ``python -m competition.upload download [--out DIR]``
(``kaggle competitions download``).

The server sends the competitor's folder as a zip with its sha256 in a header. The zip is streamed
to a temporary file beside DIR and checked against that sha256; its names are checked (no absolute
path, no ``..``, no link); it is unpacked into a hidden folder beside DIR and renamed into place
only when whole. DIR must be new or empty: nothing of the user's is ever replaced. The result is
then loaded and checked like any competition folder (``competition.data``), and its summary
printed: the same fingerprint as the host's folder.

A zip is unpacked within bounds, so that a hostile or broken server cannot fill the disk or crash
the client: at most ``MAX_RATIO`` times the zip's size and ``MAX_BYTES`` in all (the headers'
claims checked before a byte is written, and the bytes actually written counted while unpacking),
paths at most ``MAX_DEPTH`` parts deep. The result is loaded and checked in the hidden folder too:
on any refusal DIR is left as it was (absent or empty), and the one line says why.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from ..data.loader import load_competition
from ..errors import InputError
from ..fsutil import check_new_or_empty, new_dir, sha256_file, work_file
from ..wire import DATA, DATA_SHA256_HEADER

MAX_RATIO = 100  # unpacked bytes per byte of zip: a competition's zip (PNGs stored, CSVs deflated) is near 1
RATIO_FLOOR = 1 << 20  # a zip smaller than this may unpack to this much whatever its ratio (a few tiny CSVs)
MAX_BYTES = 64 << 30  # in all, whatever the zip's size
MAX_DEPTH = 32  # parts of a path in the zip (images/train/1.png has 3)


class DownloadError(InputError):
    """The data could not be fetched, did not arrive whole, or has nowhere safe to go."""


def size_text(count: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


def budget(zip_bytes: int) -> int:
    """How many bytes a zip of ``zip_bytes`` may unpack to."""
    return min(MAX_BYTES, max(RATIO_FLOOR, MAX_RATIO * zip_bytes))


def too_large(source: str, unpacked: int, zip_bytes: int, how: str) -> DownloadError:
    return DownloadError(f"{source}: the zip of {size_text(zip_bytes)} {how} {size_text(unpacked)}, over the "
                         f"{size_text(budget(zip_bytes))} allowed (at most {MAX_RATIO} times its size, "
                         f"{size_text(MAX_BYTES)} in all): a zip bomb or a broken server; nothing was kept")


def safe_names(bundle: zipfile.ZipFile, zip_bytes: int, source: str) -> list[zipfile.ZipInfo]:
    """The zip's entries, refused as a whole (before anything is unpacked) when one could land
    outside the folder (an absolute path, ``..``, a backslash, a link), lies deeper than
    ``MAX_DEPTH``, or when together they claim more than ``budget`` allows."""
    members, names, claimed = [], set(), 0
    for info in bundle.infolist():
        path = PurePosixPath(info.filename)
        if path.is_absolute() or ".." in path.parts or "\\" in info.filename or (info.external_attr >> 28) == 0o12:
            raise DownloadError(f"{source}: the zip holds an unsafe name {info.filename!r}; nothing was unpacked")
        if len(path.parts) > MAX_DEPTH:
            raise DownloadError(f"{source}: the zip holds a path {len(path.parts)} parts deep "
                                f"({info.filename[:60]!r}...), over the {MAX_DEPTH} allowed; nothing was unpacked")
        if path.parts and not info.is_dir():
            if path in names:
                raise DownloadError(f"{source}: the zip holds {info.filename!r} twice; nothing was unpacked")
            names.add(path)
            members.append(info)
        claimed += info.file_size
    if claimed > budget(zip_bytes):
        raise too_large(source, claimed, zip_bytes, "claims to unpack to")
    return members


def unpack(bundle: zipfile.ZipFile, zip_bytes: int, into: Path, source: str) -> int:
    """Unpack the checked entries of ``bundle`` (a zip of ``zip_bytes``) into the new folder
    ``into``, counting the bytes actually written against ``budget`` whatever the headers claimed
    (a reader less strict than CPython's would trust them); the bytes written."""
    allowed, written = budget(zip_bytes), 0
    for info in safe_names(bundle, zip_bytes, source):
        target = into.joinpath(*PurePosixPath(info.filename).parts)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(info) as packed, open(target, "xb") as unpacked:
                for block in iter(lambda: packed.read(1 << 20), b""):
                    written += len(block)
                    if written > allowed:
                        raise too_large(source, written, zip_bytes, "unpacked to more than")
                    unpacked.write(block)
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            raise DownloadError(f"{source}: the zip holds {info.filename!r} where it also holds a folder or a "
                                "file of that name; nothing was kept") from None
    return written


def fetch(url: str, token: str, target: Path, timeout: float = 30.0) -> str:
    """Stream ``GET url/api/data`` into ``target``; return the sha256 the server announced."""
    import httpx

    try:
        with httpx.stream("GET", f"{url}{DATA}", headers={"Authorization": f"Bearer {token}"},
                          timeout=httpx.Timeout(timeout)) as response:
            if response.status_code != 200:
                response.read()
                try:
                    why = response.json().get("error", "refused")
                except ValueError:
                    why = f"not a competition grader at {url}"
                raise DownloadError(f"{why} (HTTP {response.status_code})")
            announced = response.headers.get(DATA_SHA256_HEADER, "")
            if len(announced) != 64:
                raise DownloadError(f"{url}: the answer has no {DATA_SHA256_HEADER} header; not a competition grader?")
            with open(target, "wb") as f:
                for block in response.iter_bytes(1 << 20):
                    f.write(block)
    except httpx.HTTPError as exc:
        raise DownloadError(f"cannot fetch the data from {url} ({exc})") from None
    return announced


def download(url: str, token: str, out: Path, timeout: float = 30.0) -> Path:
    """Fetch, check and unpack the competition's data into the new or empty folder ``out``, and
    load it there (``competition.data``) before it is placed: a zip that is no competition is
    refused like any other. ``out`` as an absolute path."""
    out = Path(os.path.abspath(out))  # "--out ." fetches beside the working folder, not into it
    check_new_or_empty(out, "--out")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = work_file(out.parent, out.name, ".zip")  # new_dir sweeps it if this process is killed
    source = f"{url}{DATA}"
    try:
        announced = fetch(url, token, tmp, timeout)
        digest = sha256_file(tmp)
        if digest != announced:
            raise DownloadError(f"the data from {url} arrived damaged (sha256 {digest[:16]}..., the server "
                                f"announced {announced[:16]}...); nothing was unpacked, try again")
        with new_dir(out, "--out") as build, zipfile.ZipFile(tmp) as bundle:
            unpack(bundle, tmp.stat().st_size, build, source)
            try:
                load_competition(build)
            except InputError as exc:
                why = str(exc).replace(f"{build}{os.sep}", "").replace(str(build), "the zip")
                raise DownloadError(f"{source}: not a competition's data ({why}); nothing was kept") from None
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise DownloadError(f"{source}: not a whole zip ({exc}); nothing was kept") from None
    finally:
        tmp.unlink(missing_ok=True)
    return out
