"""Build a Kaggle-style competition folder from a source: the real Fashion-MNIST, or the host's own images.

    python -m competition.prepare [--source DIR] [--out data/fashion-mnist] [--limit-train N] ...
    python -m competition.prepare --images DIR [--labels CSV] --out DIR [--size WxH] [--test-size F|N] ...

The competitor's folder gets ``images/train/{id}.png``, ``images/test/{id}.png``, ``train.csv``
(``id,class``), ``test_sample.csv`` (``id,class`` with a placeholder class) and, when the names are
known, ``classes.csv`` (``class,name``: what each label means, as Kaggle's data page would say). The
answer key goes OUTSIDE that folder, to ``<out>.grader/solution.csv`` (``id,class,Usage``; ``Usage``
is ``Public`` for a seeded ~30% of the rows, ``Private`` for the rest), so a competitor can be
handed the folder alone. Test ids are a seeded permutation: the sample's row order says nothing
about the labels. From ``--images`` (``competition.prepare.sources`` reads them), the split keeps
copies of one picture on one side (``competition.prepare.duplicates``), and the answer key's folder
also gets ``sources.csv`` (id -> file) and the leak report ``duplicates.csv`` / ``duplicates.png``.

Both folders are built beside their final place and renamed into it; a second run with the same
arguments finds the work done and stops, and an ``--out`` that ``prepare`` did not build is never
replaced (``competition.prepare.folder`` says how). Each step has its module: ``fashion`` and
``own_images`` (the two sources), ``splits`` (who goes where), ``write`` (the files), ``folder``.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from .. import cli
from ..data import metrics
from ..data import overview as overview_file
from . import sources
from .fashion import DEBIAN_SOURCE, prepare
from .own_images import prepare_images
from .splits import PUBLIC_FRACTION


def parse_names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",")]


def parse_size(text: str) -> tuple[int, int]:
    """``WxH`` as two whole numbers of pixels, each at least 1."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT in pixels, such as 64x64, got {text!r}")
    width, height = int(match.group(1)), int(match.group(2))
    if min(width, height) < 1 or max(width, height) > 10_000:
        raise argparse.ArgumentTypeError(f"width and height must be from 1 to 10000 pixels, got {text}")
    return width, height


# ``--test-size``: a fraction of the images (0 < f < 1) or a whole number of them (at least 1).
parse_test_size = cli.bounded(float, "a fraction or a count",
                              lambda value: 0 < value < 1 or (value >= 1 and value.is_integer()),
                              "must be a fraction between 0 and 1 or a whole number of images")


FASHION_ONLY = ("source", "limit_train", "limit_test", "class_names")


IMAGES_ONLY = ("labels", "test_size", "size", "fit", "mode", "keep_duplicates", "strict")


@cli.guarded
def main(argv: list[str] | None = None) -> int:
    parser = cli.ArgumentParser(prog="python -m competition.prepare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path,
                        help=f"competition folder to write (default {cli.DATA}); replaced only if prepare built it")
    parser.add_argument("--seed", type=cli.seed, default=0, help="seed of the split, the ids and the Public rows")
    parser.add_argument("--public", type=cli.fraction(), default=PUBLIC_FRACTION, metavar="SHARE",
                        help=f"share of the test rows scored on the public board (default {PUBLIC_FRACTION})")
    parser.add_argument("--title", help=f"the competition's name, as competitors will see it (in {overview_file.FILE}; "
                                        "default: the folder's name)")
    parser.add_argument("--metric", choices=list(metrics.REGISTRY), default=metrics.DEFAULT, metavar="NAME",
                        help=f"the competition's score, recorded in {overview_file.FILE} (default accuracy; one "
                             f"of {', '.join(metrics.REGISTRY)}); a probability metric's sample has a column per class")
    fashion = parser.add_argument_group("Fashion-MNIST (without --images)")
    fashion.add_argument("--source", type=Path, help=f"folder with the four IDX(.gz) files (default {DEBIAN_SOURCE})")
    fashion.add_argument("--limit-train", type=cli.int_at_least(1), metavar="N",
                         help="keep only the first N training images")
    fashion.add_argument("--limit-test", type=cli.int_at_least(1), metavar="N",
                         help="keep only the first N test images")
    fashion.add_argument("--class-names", metavar="A,B,...", type=parse_names,
                         help="names of labels 0, 1, ... for classes.csv (default: Fashion-MNIST's, "
                              "unless --source is given)")
    own = parser.add_argument_group("your own images")
    own.add_argument("--images", type=Path, metavar="DIR",
                     help="folder of images: DIR/<class>/*.jpg, or any layout with --labels")
    own.add_argument("--labels", type=Path, metavar="CSV", help="file,label rows (paths relative to DIR)")
    own.add_argument("--test-size", type=parse_test_size, metavar="F|N",
                     help="fraction or number of images held out as the test set (default 0.2)")
    own.add_argument("--size", type=parse_size, metavar="WxH", help="size of every image (required when they differ)")
    own.add_argument("--fit", choices=sources.FITS, help="how an image of another shape is fitted: pad (letterbox, "
                                                         "the default), crop (centre) or stretch")
    own.add_argument("--mode", choices=sources.MODES, help="colour mode (default: RGB if any image has colour, else L)")
    own.add_argument("--keep-duplicates", action="store_true", default=None,
                     help="keep exact copies (default: one of each; copies always share a side of the split)")
    own.add_argument("--strict", action="store_true", default=None, help="refuse an image that does not decode "
                                                                         "(default: skip it with a warning)")
    args = parser.parse_args(argv)
    misplaced = [name for name in (IMAGES_ONLY if args.images is None else FASHION_ONLY)
                 if getattr(args, name) is not None]
    if misplaced:
        option = "--" + misplaced[0].replace("_", "-")
        parser.error(f"{option} " + ("needs --images DIR" if args.images is None else "is for Fashion-MNIST, "
                                     "not --images"))
    if args.images is None:
        prepare(args.out or cli.DATA, args.source, args.limit_train, args.limit_test, args.seed, args.class_names,
                args.public, args.title, args.metric)
        return 0
    if args.out is None:
        parser.error("--images needs --out DIR, the competition folder to write")
    prepare_images(args.images, args.out, args.labels, test_size=args.test_size or 0.2, public=args.public,
                   size=args.size, fit=args.fit or "pad", mode=args.mode, seed=args.seed, title=args.title,
                   keep_duplicates=bool(args.keep_duplicates), strict=bool(args.strict), metric=args.metric)
    return 0


if __name__ == "__main__":
    sys.exit(main())
