"""Fetch a competition's data from its grader: ``python -m competition.upload download [--out DIR]``
(``kaggle competitions download``).

The server sends the competitor's folder as a zip with its sha256 in a header. The zip is streamed
to a temporary file beside DIR and checked against that sha256; its names are checked (no absolute
path, no ``..``, no link); it is unpacked into a hidden folder beside DIR and renamed into place
only when whole. DIR must be new or empty: nothing of the user's is ever replaced. The result is
then loaded and checked like any competition folder (``competition.data``), and its summary
printed: the same fingerprint as the host's folder.
"""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath

from ..errors import InputError
from ..fsutil import check_new_or_empty, new_dir, sha256_file, work_file
from ..server.bundle import DATA_SHA256_HEADER


class DownloadError(InputError):
    """The data could not be fetched, did not arrive whole, or has nowhere safe to go."""


def safe_names(bundle: zipfile.ZipFile, source: str) -> list[zipfile.ZipInfo]:
    members = []
    for info in bundle.infolist():
        path = PurePosixPath(info.filename)
        if path.is_absolute() or ".." in path.parts or "\\" in info.filename or (info.external_attr >> 28) == 0o12:
            raise DownloadError(f"{source}: the zip holds an unsafe name {info.filename!r}; nothing was unpacked")
        members.append(info)
    return members


def fetch(url: str, token: str, target: Path, timeout: float = 30.0) -> str:
    """Stream ``GET url/api/data`` into ``target``; return the sha256 the server announced."""
    import httpx

    try:
        with httpx.stream("GET", f"{url}/api/data", headers={"Authorization": f"Bearer {token}"},
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
    """Fetch, check and unpack the competition's data into the new or empty folder ``out``."""
    out = Path(out)
    check_new_or_empty(out, "--out")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = work_file(out.parent, out.name, ".zip")  # new_dir sweeps it if this process is killed
    try:
        announced = fetch(url, token, tmp, timeout)
        digest = sha256_file(tmp)
        if digest != announced:
            raise DownloadError(f"the data from {url} arrived damaged (sha256 {digest[:16]}..., the server "
                                f"announced {announced[:16]}...); nothing was unpacked, try again")
        with new_dir(out, "--out") as build, zipfile.ZipFile(tmp) as bundle:
            bundle.extractall(build, members=safe_names(bundle, f"{url}/api/data"))
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"the data from {url} is not a zip ({exc})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return out
