"""Read IDX files, the format Fashion-MNIST (and MNIST) are distributed in.

An IDX file is a 4-byte magic (two zero bytes, a type code, the number of dimensions), one
big-endian uint32 per dimension, then the values. Plain or gzip-compressed files are accepted.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from ..errors import InputError

_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class IdxError(InputError):
    """A file that is not a complete IDX(.gz) file; the message names it."""


def read_idx(path: str | Path) -> np.ndarray:
    """Return the array stored in an IDX(.gz) file, in native byte order."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise IdxError(f"{path}: corrupt or truncated gzip file ({exc or type(exc).__name__})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise IdxError(f"{path}: not an IDX file (bad magic number)")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise IdxError(f"{path}: truncated IDX header")
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4).astype(int)
    dtype = np.dtype(_DTYPES[raw[2]])
    offset = 4 + 4 * ndim
    count = int(np.prod(dims)) if ndim else 1
    if len(raw) - offset != count * dtype.itemsize:
        raise IdxError(f"{path}: holds {len(raw) - offset} data bytes, header says {count * dtype.itemsize}")
    return np.frombuffer(raw, dtype=dtype, offset=offset).reshape(dims).astype(dtype.newbyteorder("="))


def find_idx(source: Path, stem: str) -> Path:
    """The file ``stem`` or ``stem.gz`` in ``source`` (Kaggle and Debian ship either)."""
    for name in (stem, stem + ".gz"):
        if (source / name).is_file():
            return source / name
    raise IdxError(f"{source}: no {stem}[.gz]")
