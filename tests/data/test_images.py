"""The PNG decoder: exact pixels for every PNG flavour, clear errors for broken files."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from competition.data.images import ImageError, decode_pngs


def smooth_image(rng, shape):
    """Natural-looking pixels, so that PNG encoders pick every row filter type."""
    noise = rng.integers(0, 256, size=shape).astype(float)
    kernel = np.ones(3) / 3
    for axis in (0, 1):
        noise = np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="same"), axis, noise)
    return np.clip(noise + rng.normal(0, 4, shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("mode,shape", [("L", (21, 17)), ("LA", (9, 7, 2)), ("RGB", (13, 9, 3)), ("RGBA", (8, 8, 4))])
def test_decodes_every_filter_type_exactly(tmp_path, mode, shape):
    rng = np.random.default_rng(1)
    images = [smooth_image(rng, shape) for _ in range(40)]
    paths = []
    for i, image in enumerate(images):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(image, mode=mode).save(paths[-1], optimize=bool(i % 2))
    pixels, stats = decode_pngs(paths)
    expected = np.stack(images).reshape(len(images), shape[0], shape[1], -1)
    assert pixels.dtype == np.uint8 and np.array_equal(pixels, expected)
    assert stats.shape == (40, 2) and stats[0, 0] == paths[0].stat().st_size


def test_parallel_decode_into_a_file_equals_serial(tmp_path):
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, size=(4100, 5, 6), dtype=np.uint8)
    paths = []
    for i, image in enumerate(images):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(image).save(paths[-1])
    pixels, _ = decode_pngs(paths, out=tmp_path / "out.npy", workers=2)
    assert np.array_equal(pixels[..., 0], images)
    assert np.array_equal(np.load(tmp_path / "out.npy")[..., 0], images)


def test_palette_and_16_bit_pngs_become_8_bit(tmp_path):
    rng = np.random.default_rng(3)
    rgb = smooth_image(rng, (6, 5, 3))
    Image.fromarray(rgb).convert("P").save(tmp_path / "p.png")
    pixels, _ = decode_pngs([tmp_path / "p.png"])
    assert pixels.shape == (1, 6, 5, 3)
    grey16 = smooth_image(rng, (6, 5)).astype(np.uint16) * 257
    Image.fromarray(grey16).save(tmp_path / "g16.png")
    pixels, _ = decode_pngs([tmp_path / "g16.png"])
    assert np.array_equal(pixels[0, :, :, 0], grey16 >> 8)


def write_good(tmp_path, n=3, shape=(4, 4)):
    for i in range(n):
        Image.fromarray(np.full(shape, i, dtype=np.uint8)).save(tmp_path / f"{i}.png")
    return [tmp_path / f"{i}.png" for i in range(n)]


@pytest.mark.parametrize("content,message", [
    (b"", "empty file"),
    (b"GIF89a....", "not a PNG file"),
    (None, "truncated PNG"),
    ("corrupt", "corrupt PNG pixel data"),
])
def test_broken_file_is_named(tmp_path, content, message):
    paths = write_good(tmp_path)
    good = paths[1].read_bytes()
    if content is None:
        content = good[: len(good) // 2]
    elif content == "corrupt":
        start = good.index(b"IDAT") + 4
        content = good[:start] + bytes(b ^ 0x5A for b in good[start : start + 12]) + good[start + 12 :]
    paths[1].write_bytes(content)
    with pytest.raises(ImageError, match=message) as info:
        decode_pngs(paths)
    assert info.value.path == str(paths[1])


def test_mixed_sizes_and_modes_are_refused(tmp_path):
    paths = write_good(tmp_path)
    Image.fromarray(np.zeros((5, 4), dtype=np.uint8)).save(paths[2])
    with pytest.raises(ImageError, match=r"2.png: image is 4x5 grey, but .*0.png is 4x4 grey"):
        decode_pngs(paths)
    Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(paths[2])
    with pytest.raises(ImageError, match="4x4 RGB, but"):
        decode_pngs(paths)


def test_missing_file_is_named(tmp_path):
    paths = write_good(tmp_path)
    paths[2].unlink()
    with pytest.raises(ImageError, match="2.png: cannot be read"):
        decode_pngs(paths)


def test_16_bit_grey_and_alpha_loads_with_two_channels_as_at_8_bits(tmp_path):
    """Pillow cannot write 16-bit grey+alpha: the PNG is assembled by hand, as another program writes it."""
    rng = np.random.default_rng(4)
    grey, alpha = (smooth_image(rng, (6, 5)).astype(np.uint16) * 257 + rng.integers(0, 256, (6, 5)).astype(np.uint16)
                   for _ in range(2))
    raw = np.zeros((6, 5, 2), dtype=">u2")
    raw[..., 0], raw[..., 1] = grey, alpha
    rows = b"".join(b"\x00" + raw[r].tobytes() for r in range(6))
    write_raw_png(tmp_path / "ga16.png", 5, 6, depth=16, colour=4, idat=zlib.compress(rows))
    Image.fromarray(np.dstack([grey >> 8, alpha >> 8]).astype(np.uint8), mode="LA").save(tmp_path / "ga8.png")
    sixteen, _ = decode_pngs([tmp_path / "ga16.png"])
    eight, _ = decode_pngs([tmp_path / "ga8.png"])
    assert sixteen.shape == eight.shape == (1, 6, 5, 2)
    assert np.array_equal(sixteen, eight)


def write_raw_png(path, width, height, depth, colour, idat: bytes):
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


BOMB_CHECK = """
import sys, tracemalloc
from competition.data.images import ImageError, decode_pngs
tracemalloc.start()
try:
    decode_pngs([sys.argv[1]])
except ImageError as exc:
    print(exc)
print(tracemalloc.get_traced_memory()[1] >> 20)
"""  # the peak of Python's allocations (the inflated bytes are one); ru_maxrss would be the parent's, kept at exec


def test_pixel_data_inflating_far_beyond_its_header_is_refused_without_inflating_it(tmp_path):
    """A 28x28 grey PNG whose 64 KB of pixel data inflate to 64 MiB: refused naming the file, and
    the peak of its allocations stays far below 64 MiB (it inflates what the header promises)."""
    bomb = tmp_path / "bomb.png"
    squeeze = zlib.compressobj(9)
    idat = b"".join(squeeze.compress(bytes(1 << 20)) for _ in range(64)) + squeeze.flush()
    write_raw_png(bomb, 28, 28, depth=8, colour=0, idat=idat)
    assert bomb.stat().st_size < 100_000
    done = subprocess.run([sys.executable, "-c", BOMB_CHECK, str(bomb)], capture_output=True, text=True, timeout=60)
    message, grown_mib = done.stdout.strip().splitlines()
    assert message.startswith(f"{bomb}: corrupt PNG (its pixel data inflates beyond the 812 bytes its 28x28 header")
    assert int(grown_mib) < 16
