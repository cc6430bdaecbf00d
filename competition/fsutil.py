"""Write files and folders so that a reader never sees them half-written, and nothing the toolkit
did not create is ever replaced.

Everything the toolkit writes (competition folders, caches, runs, submissions, pictures) goes through
these: write beside the target under a temporary name, then rename, which POSIX makes atomic.
Temporary folders carry the writer's process id in their name (``.NAME.building-PID-xxxx``) and a
lock file that the writer and the worker processes it forks hold, so a later writer can tell the
leftovers of a killed one (``kill -9``, a power cut) from a build in progress, and sweep them.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import stat
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import numpy as np
from filelock import FileLock

from .errors import InputError

LOCK_TIMEOUT = 600  # seconds a writer waits for another one writing the same thing
WORK_LOCK = ".in-use.lock"  # inside a work folder: held while its builder or a worker it forked lives
_held: dict[Path, int] = {}  # work folder -> the descriptor holding its lock


PICTURE_DPI = 100  # every picture the toolkit draws, unless its caller says otherwise
SECRET_MODE = 0o600  # tokens, the grader's database, the answer key: their owner alone reads them


def umask() -> int:
    """The process's umask, read without changing it (``os.umask`` can only set it, which would
    briefly open every file another thread creates meanwhile)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    old = os.umask(0o077)  # no /proc: set a strict mask for the instant it takes to read the old one
    os.umask(old)
    return old


@contextmanager
def atomic_open(path: str | Path, *, secret: bool = False) -> Iterator[BinaryIO]:
    """A binary file to write that appears at ``path`` only when the block ends without error.

    It gets the mode a plain ``open`` would give (0666 less the umask), so files a user shares
    (submissions, runs, the leaderboard) read as any other of theirs; ``secret`` files are 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), SECRET_MODE if secret else 0o666 & ~umask())
            yield f
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes, *, secret: bool = False) -> Path:
    with atomic_open(path, secret=secret) as f:
        f.write(data)
    return Path(path)


def write_text_atomic(path: str | Path, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, data: Any) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


def save_npy_atomic(path: str | Path, array: np.ndarray) -> Path:
    with atomic_open(path) as f:
        np.save(f, array, allow_pickle=False)
    return Path(path)


def write_new(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically, refusing (``FileExistsError``) to replace any existing file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
    with atomic_open(tmp) as f:
        f.write(data)
    try:
        os.link(tmp, path)  # fails if ``path`` exists: nothing is ever overwritten
    finally:
        tmp.unlink()
    return path


def begins_with(path: str | Path, marks: tuple[str, ...]) -> bool:
    """Whether the text file ``path`` begins with one of ``marks``: how a page the toolkit drew
    (a leaderboard, a report) is told from someone else's file of the same name."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read(max(map(len, marks))).startswith(marks)


def ensure_dir(path: str | Path, what: str) -> Path:
    """``path`` as an existing folder (created if missing); a clear error if a file is in the way.
    ``what`` names the option or role in the message (``--runs-dir``)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{what} {path}: is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise InputError(f"{what} {path}: cannot be created (a file is in the way on its path)") from None
    return path


def check_new_or_empty(path: str | Path, what: str, own: Path | None = None) -> None:
    """Refuse (``InputError``) a ``path`` that holds anything (but ``own``, the caller's own work
    folder inside it): a folder the toolkit fills as a whole (an export, a download) goes only where
    nothing of the user's can be replaced."""
    path = Path(path)
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise InputError(f"{what} {path}: is a file; give a new or empty folder")
    held = sorted(p.name for p in path.iterdir() if own is None or p.name != Path(own).name) if path.is_dir() else []
    if held:
        raise InputError(f"{what} {path}: not empty (holds {held[0]}); give a new or empty folder, nothing was written")


def place_new_dir(build: str | Path, final: str | Path, what: str) -> Path:
    """Move the complete ``work_dir`` folder ``build`` to ``final``, which must still be new or
    empty. A new ``final`` is ``build`` renamed, with the umask's mode like any folder the user makes
    (``mkdtemp`` makes it 0700). An empty folder that exists was built in (``new_dir``) and keeps
    its own mode and identity: ``build``'s entries move up into it, so a shell standing in it
    (``--out .``) sees them."""
    build, final = Path(build), Path(final)
    release_work_dir(build)
    if build.parent == final:
        check_new_or_empty(final, what, own=build)
        for entry in sorted(os.listdir(build)):
            os.replace(build / entry, final / entry)
        build.rmdir()
        return final
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(build, 0o777 & ~umask)
    check_new_or_empty(final, what)
    os.replace(build, final)
    return final


def lock(path: str | Path) -> FileLock:
    """An inter-process lock (``path`` names the lock file) for read-then-write sequences."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path), timeout=LOCK_TIMEOUT)


def _hidden(name: str) -> str:
    return name if name.startswith(".") else f".{name}"


def work_dir(parent: str | Path, name: str) -> Path:
    """A new hidden folder ``parent/.NAME.building-PID-xxxx`` to build ``parent/NAME`` in, locked
    until ``release_work_dir`` (or the death of this process and of every worker it forked)."""
    path = Path(tempfile.mkdtemp(dir=parent, prefix=f"{_hidden(name)}.building-{os.getpid()}-"))
    fd = os.open(path / WORK_LOCK, os.O_CREAT | os.O_WRONLY, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    _held[path] = fd
    return path


def work_file(parent: str | Path, name: str, suffix: str = "") -> Path:
    """A new hidden file ``parent/.NAME.building-PID-xxxx<suffix>`` to fetch something for
    ``parent/NAME`` into: named as ``work_dir``'s folders, so ``sweep_stale`` removes it once the
    process that made it is gone (a kill -9); the caller removes it when done."""
    fd, path = tempfile.mkstemp(dir=parent, prefix=f"{_hidden(name)}.building-{os.getpid()}-", suffix=suffix)
    os.close(fd)
    return Path(path)


def release_work_dir(path: str | Path) -> None:
    """Drop a work folder's lock (its lock file too, so it does not travel with the folder)."""
    path = Path(path)
    (path / WORK_LOCK).unlink(missing_ok=True)
    fd = _held.pop(path, None)
    if fd is not None:
        os.close(fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _in_use(folder: Path, pid: int) -> bool:
    """Whether the process that made ``folder``, or a worker it forked (which inherits the lock), lives."""
    if pid == os.getpid() or _alive(pid):
        return True
    try:
        fd = os.open(folder / WORK_LOCK, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def sweep_stale(parent: str | Path, name: str) -> list[Path]:
    """Remove the work folders for ``parent/NAME`` (``work_dir``, ``replace_dir``'s old copy), and
    the work files named the same way (a download's zip), that no living process uses; return them."""
    parent = Path(parent)
    pattern = re.compile(rf"{re.escape(_hidden(name))}\.(building|old)-(\d+)-")
    removed = []
    if not parent.is_dir():
        return removed
    for entry in parent.iterdir():
        match = pattern.match(entry.name)
        if match and not _in_use(entry, int(match.group(2))):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def replace_dir(new: str | Path, final: str | Path) -> None:
    """Move the complete folder ``new`` to ``final``; an older ``final`` is moved aside first and
    deleted only once the new one is in place. Callers hold a lock against concurrent replacers,
    and decide beforehand that ``final`` is theirs to replace."""
    new, final = Path(new), Path(final)
    if final.exists():
        old = final.with_name(f"{_hidden(final.name)}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        final.rename(old)
        new.rename(final)
        shutil.rmtree(old)
    else:
        new.rename(final)


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


class NotRegularFile(InputError):
    """A path that names a pipe, a device, a socket or a folder where a file's contents are wanted:
    reading a pipe with no writer, or a device, would wait for ever. ``why`` is the reason alone."""

    def __init__(self, path: str | Path, mode: int):
        self.why = "not a regular file (" + next((kind for test, kind in _KINDS if test(mode)), "not a file") + ")"
        super().__init__(f"{path}: {self.why}")
        self.path, self.mode = path, mode

    def __reduce__(self):  # so that a worker process can raise it
        return NotRegularFile, (self.path, self.mode)


def check_regular(path: str | Path, st: os.stat_result | None = None) -> None:
    """The one rule for "not a regular file": raise ``NotRegularFile`` unless ``path`` (its ``st``,
    else a stat through links) is one. A path that cannot be stat'ed is left to the reader to report."""
    if st is None:
        try:
            st = os.stat(path)
        except OSError:
            return
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFile(path, st.st_mode)


def check_regular_option(option: str, path: str | Path) -> None:
    """``check_regular`` for the file an option names and a command appends to or redraws (``--ledger``,
    ``--leaderboard``): one line naming the option, the path and what it is; the path is not touched."""
    try:
        check_regular(path)
    except NotRegularFile as exc:
        raise InputError(f"{option} {exc}; it is left untouched") from None


def open_regular(path: str | Path) -> BinaryIO:
    """``path`` opened for reading, refused at once unless it is a regular file: opened without
    blocking (a FIFO with no writer would hold ``open`` for ever) and checked on the open file."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        check_regular(path, os.fstat(fd))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | Path) -> bytes:
    """The bytes of the regular file ``path`` (``open_regular``'s refusal otherwise; ``OSError`` as usual)."""
    with open_regular(path) as file:
        return file.read()


def sha256_file(path: str | Path) -> str:
    """The sha256 of the file ``path``, read in blocks of 1 MiB (a competition's data zip need not
    fit in memory twice)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def new_dir(final: str | Path, what: str) -> Iterator[Path]:
    """A folder to build ``final`` in, renamed onto it when the block ends without error: the one
    build-beside-then-rename of a folder the toolkit fills as a whole (an export, a download, a
    shift report), so nobody and no crash sees it half-built. ``final`` must be new or empty, before
    and at the rename (``what`` names the option in the message); the work folder is hidden beside
    it (``work_dir``; inside it when it exists, empty), removed on any error, and what a killed
    builder left there is swept first."""
    named = Path(os.path.abspath(final))  # '--out .' is this folder, named by its own name
    # an empty folder that exists is built in (its parent may not be ours to write: '--out .' in a
    # home folder), a new one beside where it will be
    inside = named.is_dir() and not named.is_symlink()
    if inside:
        sweep_stale(named, named.name)
    check_new_or_empty(final, what)
    parent = named if inside else ensure_dir(named.parent, what)
    sweep_stale(parent, named.name)
    build = work_dir(parent, named.name)
    final = named
    try:
        yield build
        place_new_dir(build, final, what)
    except BaseException:
        release_work_dir(build)
        shutil.rmtree(build, ignore_errors=True)
        raise


def picture_bytes(picture, *, dpi: float | str = PICTURE_DPI, tight: bool = True) -> bytes:
    """``picture`` as PNG bytes: a matplotlib figure (then closed; ``dpi`` and ``tight``, cropped
    to what is drawn, apply to it) or a Pillow image. No "Software" stamp, so that the same figure
    gives the same bytes under another matplotlib version. matplotlib is imported only by whoever
    draws."""
    data = io.BytesIO()
    if not hasattr(picture, "savefig"):  # a Pillow image
        picture.save(data, format="PNG")
        return data.getvalue()
    import matplotlib.pyplot as plt

    try:
        picture.savefig(data, format="png", dpi=dpi, bbox_inches="tight" if tight else None,
                        metadata={"Software": None})
    finally:
        plt.close(picture)
    return data.getvalue()


def write_picture(path: str | Path, picture, *, dpi: float | str = PICTURE_DPI, tight: bool = True) -> Path:
    """The one way a picture is written: ``picture`` as a PNG at ``path`` (``picture_bytes``),
    atomically, so that a report or a board never links a half-written picture."""
    return write_bytes_atomic(path, picture_bytes(picture, dpi=dpi, tight=tight))
