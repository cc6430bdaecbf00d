"""The PNG decoder: exact pixels for every PNG flavour, clear errors for broken files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from competition.images import ImageError, decode_pngs


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
