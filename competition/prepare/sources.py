"""A host's own images as the source of a competition: find them, then bring them to one size and mode.

Two layouts, the ones Keras' ``image_dataset_from_directory`` and torchvision's ``ImageFolder`` read
and the one a labelling tool exports:

    DIR/<class>/*.jpg                           the class is the sub-folder's name
    DIR/... plus --labels labels.csv            file,label  (paths relative to DIR)

Any format Pillow reads is taken (PNG, JPEG, BMP, GIF's first frame, TIFF, WebP), its EXIF
orientation applied. ``prepare`` reads every file twice, in worker processes: once for its header
(size and colour mode, to choose the competition's), once to decode, fit and write it as a plain PNG
into a staging folder, returning the pixel digest and grey thumbnail the leak check groups on.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..errors import InputError
from ..fsutil import NotRegularFile, check_regular, open_regular
from ..data.tables import is_missing, read_csv

FITS = ("pad", "crop", "stretch")
MODES = ("L", "RGB", "RGBA")
GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}
FILE_COLUMNS = ("file", "path", "image", "filename")
LABEL_COLUMNS = ("label", "class")
_SWAPS_SIDES = {5, 6, 7, 8}  # EXIF orientations that turn the picture a quarter
_ORIENTATION = 0x0112
THUMB = 32  # side of the grey thumbnail the leak check works on (pHash's 32x32)


class SourceError(InputError):
    """A source folder or labels file that cannot make a competition; the message names the file or line."""


def image_extensions() -> set[str]:
    """File endings Pillow can open: anything else in the folder (``.DS_Store``, ``notes.txt``) is not an image."""
    return {ext for ext, kind in Image.registered_extensions().items() if kind in Image.OPEN}


@dataclass
class Listing:
    """The images of a source, sorted by path: ``files[i]`` (absolute), ``shown[i]`` (relative to the
    source folder, as the host knows it) and ``labels[i]``."""

    files: list[str] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # files that are not images
    unfiled: list[str] = field(default_factory=list)  # images beside the class folders, in none

    def digest(self) -> str:
        """sha256 of every file's path, label, size and modification time: a rerun with the same
        settings on a changed folder rebuilds."""
        digest = hashlib.sha256()
        for path, shown, label in zip(self.files, self.shown, self.labels):
            st = os.stat(path)
            digest.update(f"{shown}\0{label}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return digest.hexdigest()


def _stat(path: Path) -> os.stat_result | None:
    """``path``'s stat through links; a symlink loop is refused, a broken link is ``None``."""
    try:
        return path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SourceError(f"{path}: symlink loop") from None
        return None


def _walk(folder: Path, seen: dict[tuple[int, int], Path]) -> list[Path]:
    """Files under ``folder``, following links; a folder reached twice (a link back up) is refused."""
    found = []
    with os.scandir(folder) as entries:
        entries = sorted(entries, key=lambda entry: entry.name)
    for entry in entries:
        path = Path(entry.path)
        if entry.is_file(follow_symlinks=False):  # the common case, from the folder listing alone
            found.append(path)
            continue
        st = _stat(path)
        if st is None:
            found.append(path)  # a broken link: reported as unreadable by the decoder
        elif os.path.isdir(path):
            key = (st.st_dev, st.st_ino)
            if key in seen:
                raise SourceError(f"{path}: symlink loop (leads back to {seen[key]})")
            seen[key] = path
            found += _walk(path, seen)
        else:
            found.append(path)
    return found


def check_utf8_name(path: Path) -> None:
    """Refuse a file or folder whose name is not UTF-8 text (bytes an old tool or another system wrote):
    ``sources.csv`` and ``train.csv`` could not hold it. Named with its bad bytes escaped."""
    try:
        str(path).encode()
    except UnicodeEncodeError:
        shown = os.fsencode(path).decode("utf-8", errors="backslashreplace")
        raise SourceError(f"{shown}: the name is not UTF-8 text; rename it") from None


def check_label(label: str, where: str) -> str:
    if not label:
        raise SourceError(f"{where}: blank label")
    if is_missing(label):
        raise SourceError(f"{where}: label {label!r} reads as a missing value in a CSV; rename the class")
    return label


def list_folders(root: Path) -> Listing:
    """``root/<class>/**`` files, labelled by sub-folder; files that are not images are skipped."""
    st = _stat(root)
    seen = {(st.st_dev, st.st_ino): root}
    if not any(root.iterdir()):
        raise SourceError(f"{root}: empty folder; put each class's images in a sub-folder named after it")
    classes = [p for p in sorted(root.iterdir()) if not p.name.startswith(".") and p.is_dir()]
    if not classes:
        raise SourceError(f"{root}: no class sub-folders ({root}/<class>/*.png) and no --labels CSV naming each "
                          "file's class")
    known, listing = image_extensions(), Listing()
    for path in sorted(p for p in root.iterdir() if not p.is_dir()):
        is_image = not path.name.startswith(".") and path.suffix.lower() in known
        (listing.unfiled if is_image else listing.skipped).append(str(path))
    for folder in classes:
        check_utf8_name(folder)
        key = (folder.stat().st_dev, folder.stat().st_ino)
        if key in seen:
            raise SourceError(f"{folder}: symlink loop (leads back to {seen[key]})")
        seen[key] = folder
        label = check_label(folder.name.strip(), f"{folder}")
        for path in _walk(folder, seen):
            if path.name.startswith(".") or path.suffix.lower() not in known:
                listing.skipped.append(str(path))
                continue
            check_utf8_name(path)
            check_regular(path)  # a pipe named like a photo would hold its decoder for ever
            listing.files.append(str(path))
            listing.shown.append(str(path.relative_to(root)))
            listing.labels.append(label)
    return listing


def _column(table: dict, names: tuple[str, ...], fallback: int) -> str:
    lowered = {name.lower(): name for name in table}
    return next((lowered[n] for n in names if n in lowered), list(table)[fallback])


def list_csv(root: Path, labels: Path) -> Listing:
    """The files and labels a CSV names: a file column and a label column (by header name, else the
    first two), paths relative to ``root``. Every path must be a file inside ``root``."""
    table = read_csv(labels)
    if len(table) < 2:
        raise SourceError(f"{labels}: expected a file column and a label column, got {', '.join(table) or 'none'}")
    file_column, label_column = _column(table, FILE_COLUMNS, 0), _column(table, LABEL_COLUMNS, 1)
    if file_column == label_column:
        raise SourceError(f"{labels}: column {file_column!r} cannot be both the file and the label")
    inside = root.resolve()
    listing, line_of = Listing(), {}
    for row, (name, label) in enumerate(zip(table[file_column], table[label_column])):
        where = f"{labels}, line {row + 2}"
        if not name:
            raise SourceError(f"{where}: blank file name")
        check_label(label, where)
        path = root / name
        if os.path.isabs(name) or not path.resolve().is_relative_to(inside):
            raise SourceError(f"{where}: {name!r} is outside {root}; name files relative to it")
        st = _stat(path)
        if st is None:
            raise SourceError(f"{where}: {path}: no such file")
        try:
            check_regular(path, st)
        except NotRegularFile as exc:
            raise SourceError(f"{where}: {exc}") from None
        real = str(path.resolve())
        if real in line_of:
            raise SourceError(f"{where}: {name!r} is already listed on line {line_of[real]}")
        line_of[real] = row + 2
        listing.files.append(str(path))
        listing.shown.append(name)
        listing.labels.append(label)
    if not listing.files:
        raise SourceError(f"{labels}: no rows")
    order = sorted(range(len(listing.files)), key=listing.shown.__getitem__)
    listing.files, listing.shown, listing.labels = ([values[i] for i in order]
                                                    for values in (listing.files, listing.shown, listing.labels))
    return listing


def find_images(root: Path, labels: Path | None = None) -> Listing:
    """The source's images and labels (``labels``: a CSV; else the class sub-folders)."""
    if not root.is_dir():
        raise SourceError(f"--images {root}: not a folder")
    listing = list_csv(root, labels) if labels else list_folders(root)
    if not listing.files:
        raise SourceError(f"{root}: no images found (any format Pillow reads: .png, .jpg, .bmp, .gif, .tif, .webp)")
    return listing


# --- in worker processes ------------------------------------------------------------------------


def read_header(path: str) -> tuple[int, int, str] | str:
    """``(width, height, mode)`` as the picture stands (EXIF orientation applied), or why it cannot be opened."""
    try:
        with open_regular(path) as file, Image.open(file) as image:
            width, height = image.size
            if image.getexif().get(_ORIENTATION) in _SWAPS_SIDES:
                width, height = height, width
            return width, height, image.mode
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        return f"not a readable image ({exc.__class__.__name__}: {exc})"


def read_headers(paths: list[str]) -> list[tuple[int, int, str] | str]:
    return [read_header(path) for path in paths]


def common_size(headers: list[tuple[int, int, str]]) -> tuple[int, int] | None:
    """The one size every image has, else ``None``."""
    sizes = {(w, h) for w, h, _ in headers}
    return sizes.pop() if len(sizes) == 1 else None


def size_counts(headers: list[tuple[int, int, str]], top: int = 3) -> str:
    counts = Counter((w, h) for w, h, _ in headers).most_common()
    shown = ", ".join(f"{w}x{h}: {n:,}" for (w, h), n in counts[:top])
    return shown + (f" and {len(counts) - top} other sizes" if len(counts) > top else "")


def default_mode(headers: list[tuple[int, int, str]]) -> str:
    """RGB if any source is a colour image (by its file's mode), else L."""
    return "L" if all(mode in GREY_MODES for _, _, mode in headers) else "RGB"


def to_mode(image: Image.Image, mode: str) -> Image.Image:
    """``image`` in ``mode``; transparency is kept through RGBA rather than turned into palette noise."""
    if image.mode == mode:
        return image
    if image.mode in ("P", "PA") or "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit or float grey: scale to 8 bits
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        image = Image.fromarray(np.clip(array * 255.0 / top, 0, 255).round().astype(np.uint8))
    return image.convert(mode)


def fit_image(image: Image.Image, size: tuple[int, int], fit: str) -> Image.Image:
    """``image`` at ``size``: letterboxed with black (pad), centre-cropped (crop) or resized (stretch)."""
    if image.size == size:
        return image
    resample = Image.Resampling.LANCZOS
    if fit == "stretch":
        return image.resize(size, resample)
    if fit == "crop":
        return ImageOps.fit(image, size, resample)
    return ImageOps.pad(image, size, resample, color=0)


def load_upright(path: str, mode: str) -> np.ndarray:
    """The picture in ``path`` decoded at full size (never a JPEG's reduced draft: an exact copy is
    judged on these pixels, and a PNG export of a JPEG must have the same), turned upright and
    converted to ``mode``. Raises ``OSError`` or ``ValueError`` when it does not decode."""
    with open_regular(path) as file, Image.open(file) as image:
        image.load()
        return np.asarray(to_mode(ImageOps.exif_transpose(image), mode))


def pixel_digest(pixels: np.ndarray) -> bytes:
    """A digest of the pixels and their shape: equal for exact copies, whatever file format held them."""
    return hashlib.blake2b(str(pixels.shape).encode() + pixels.tobytes(), digest_size=16).digest()


def thumbnail(pixels: np.ndarray) -> np.ndarray:
    """The picture in grey at ``THUMB`` x ``THUMB`` (Lanczos): what the leak check hashes and compares."""
    image = Image.fromarray(pixels).convert("L")
    return np.asarray(image.resize((THUMB, THUMB), Image.Resampling.LANCZOS))


@functools.cache
def _opencv():
    """OpenCV, or None where the ``fast`` extra is not installed (asked once, not once per image)."""
    try:
        import cv2
    except ImportError:
        return None
    return cv2


def write_png(path: str, pixels: np.ndarray) -> None:
    """8-bit PNG of ``pixels`` (grey, RGB or RGBA): pixels only, no metadata. With OpenCV (the ``fast``
    extra) in a third of Pillow's time; without it Pillow writes the same pixels, as fast a compression."""
    cv2 = _opencv()
    if cv2 is None:
        Image.fromarray(pixels).save(path, format="PNG", compress_level=1)
        return
    if pixels.ndim == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR if pixels.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    if not cv2.imwrite(path, pixels):
        raise OSError(f"could not write {path}")


def fit_and_stage(job: tuple[list[int], list[str], str, tuple[int, int] | None, str, str]) -> list[tuple]:
    """Decode, fit and write each image as ``staging/<index>.png`` (a fresh array: no metadata
    survives); per image ``(index, pixel digest, thumbnail)`` or ``(index, None, why)``."""
    indices, paths, staging, size, mode, fit = job
    done = []
    for index, path in zip(indices, paths):
        try:
            upright = load_upright(path, mode)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            done.append((index, None, f"does not decode ({exc.__class__.__name__}: {exc})"))
            continue
        pixels = np.asarray(fit_image(Image.fromarray(upright), size, fit)) if size else upright
        write_png(os.path.join(staging, f"{index}.png"), pixels)
        done.append((index, pixel_digest(upright), thumbnail(pixels)))
    return done
