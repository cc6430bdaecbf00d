"""``competition.json``: what a Kaggle overview page tells, in the competitor's and the answer key's folder.

    {"title": "Fashion-MNIST", "metric": "log_loss", "higher_is_better": false,
     "submission": "probabilities", "public_share": 0.3}

The host writes it once (``prepare --metric``); the loader, the grader and everything that scores
reads it, so that one choice decides the score everywhere. A folder without it is an accuracy
competition on labels, as every folder was before the file existed.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from . import metrics
from ..errors import InputError
from ..fsutil import write_json_atomic

FILE = "competition.json"


class OverviewError(InputError):
    """A ``competition.json`` that cannot be trusted; the message names the file and the field."""


@dataclass(frozen=True)
class Overview:
    title: str = ""
    metric: str = metrics.DEFAULT
    higher_is_better: bool = True
    submission: str = metrics.LABELS  # "labels" (one class per row) or "probabilities" (one column per class)
    public_share: float | None = None  # share of test rows on the public board

    @property
    def scorer(self) -> metrics.Metric:
        return metrics.get(self.metric)

    @property
    def probabilities(self) -> bool:
        return self.submission == metrics.PROBABILITIES


def declare(metric: str, title: str = "", public_share: float | None = None) -> Overview:
    """The overview of a competition scored by ``metric`` (its direction and format from the registry)."""
    scorer = metrics.get(metric)
    return Overview(title=title, metric=scorer.name, higher_is_better=scorer.higher_is_better,
                    submission=scorer.needs, public_share=public_share)


def write(folder: Path, overview: Overview) -> Path:
    return write_json_atomic(Path(folder) / FILE, asdict(overview))


def read(folder: str | Path) -> Overview:
    """The folder's overview, checked field by field; accuracy on labels when the file is absent."""
    path = Path(folder) / FILE
    if not path.is_file():
        return Overview()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise OverviewError(f"{path}: cannot be read as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise OverviewError(f"{path}: expected a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - set(Overview.__dataclass_fields__))
    if unknown:
        raise OverviewError(f"{path}: unknown field {unknown[0]!r} "
                            f"(fields: {', '.join(Overview.__dataclass_fields__)})")
    if "metric" not in data:
        raise OverviewError(f"{path}: no 'metric' field (known metrics: {', '.join(metrics.REGISTRY)})")
    try:
        scorer = metrics.get(data["metric"])
    except InputError as exc:
        raise OverviewError(f"{path}: field 'metric': {exc}") from None
    title, share = data.get("title", ""), data.get("public_share")
    if not isinstance(title, str):
        raise OverviewError(f"{path}: field 'title' must be text, got {title!r}")
    if share is not None and (isinstance(share, bool) or not isinstance(share, (int, float))
                              or not math.isfinite(share) or not 0 < share < 1):
        raise OverviewError(f"{path}: field 'public_share' must be a number between 0 and 1, got {share!r}")
    for field, expected in (("higher_is_better", scorer.higher_is_better), ("submission", scorer.needs)):
        if field in data and data[field] != expected:
            raise OverviewError(f"{path}: field {field!r} is {data[field]!r}, but metric {scorer.name} has "
                                f"{expected!r}")
    return declare(scorer.name, title, share)
