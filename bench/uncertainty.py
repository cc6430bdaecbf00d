"""Simulation: how sure a score is on Fashion-MNIST's test set, and what sampling noise does to a board.

    python bench/uncertainty.py [--sets 1000] [--teams 30] [--seed 0]

Prints the figures of docs/how-sure-is-a-score.md, all from ``competition.data.uncertainty``:

1. Coverage: over ``--sets`` simulated test sets of 3,000 rows with a true accuracy of 0.90, how
   often the 95% Wilson interval covers 0.90; the same for the bootstrap interval of macro F1 on
   300-row sets drawn from a known joint distribution of (true, predicted) class.
2. Half-widths: the 95% interval of a 0.90 accuracy on 3,000 public and 7,000 private rows
   (Fashion-MNIST's 10,000 test images split 30/70, as ``prepare`` splits them).
3. The shake-up of ``--teams`` teams of nearly equal skill (true accuracies spread evenly over
   0.895-0.905) with no overfitting at all: each row of the 10,000 right or wrong at random, the
   public board on 3,000 rows, the private on 7,000. Spearman and Kendall of the two rankings,
   the mean rank move, the private tiers and the top five's P(private rank 1).
4. The cost: intervals, tiers and P(first) of a 50-entry board on 10,000 rows, accuracy and macro F1.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from competition.data import metrics, uncertainty

PUBLIC, PRIVATE = 3000, 7000


def right_rows(y: np.ndarray, right: np.ndarray, n_classes: int = 10) -> np.ndarray:
    """Predictions right where ``right`` holds, the next class elsewhere."""
    return np.where(right, y, (y + 1) % n_classes)


def coverage(sets: int, rng: np.random.Generator) -> None:
    accuracy = metrics.get("accuracy")
    y = np.zeros(PUBLIC, dtype=int)
    covered = sum(lo <= 0.9 <= hi
                  for lo, hi in (uncertainty.interval(accuracy, y, right_rows(y, rng.random(PUBLIC) < 0.9), 10)
                                 for _ in range(sets)))
    print(f"coverage of the 95% Wilson interval, accuracy 0.90 on {PUBLIC:,} rows: "
          f"{covered / sets:.1%} of {sets:,} sets")
    joint = np.array([[.25, .05, .03], [.04, .20, .06], [.02, .05, .30]])
    joint /= joint.sum()
    truth = (2 * np.diag(joint) / (joint.sum(axis=0) + joint.sum(axis=1))).mean()
    f1, covered, start = metrics.get("f1_macro"), 0, time.perf_counter()
    for seed in range(sets):
        cells = rng.choice(9, 300, p=joint.ravel())
        low, high = uncertainty.interval(f1, cells // 3, cells % 3, 3, seed=seed)
        covered += low <= truth <= high
    print(f"coverage of the 95% bootstrap interval (2,000 resamples), macro F1 {truth:.4f} on 300 rows: "
          f"{covered / sets:.1%} of {sets:,} sets ({(time.perf_counter() - start) / sets * 1000:.0f} ms an interval)")


def half_widths() -> None:
    accuracy = metrics.get("accuracy")
    for rows in (PUBLIC, PRIVATE):
        y = np.zeros(rows, dtype=int)
        right = np.arange(rows) < round(0.9 * rows)
        low, high = uncertainty.interval(accuracy, y, right_rows(y, right), 10)
        print(f"accuracy 0.9000 on {rows:,} rows: 95% interval [{low:.4f}, {high:.4f}], "
              f"±{(high - low) / 2 * 100:.2f} points")


def shakeup(teams: int, rng: np.random.Generator) -> None:
    accuracy = metrics.get("accuracy")
    y = rng.integers(0, 10, PUBLIC + PRIVATE)
    skill = np.linspace(0.905, 0.895, teams)
    predictions = [right_rows(y, rng.random(len(y)) < s) for s in skill]
    public = np.array([accuracy.score(y[:PUBLIC], p[:PUBLIC], 10) for p in predictions])
    private = np.array([accuracy.score(y[PUBLIC:], p[PUBLIC:], 10) for p in predictions])
    public_rank = np.argsort(np.argsort(-public, kind="stable"), kind="stable") + 1
    private_rank = np.argsort(np.argsort(-private, kind="stable"), kind="stable") + 1
    moves = uncertainty.shakeup(public_rank.tolist(), private_rank.tolist())
    by_private = np.argsort(private_rank)
    tiers = uncertainty.tiers(accuracy, y[PUBLIC:], [predictions[i][PUBLIC:] for i in by_private], 10)
    chances = uncertainty.p_first(accuracy, y[PUBLIC:], [predictions[i][PUBLIC:] for i in by_private[:5]], 10)
    first, second = by_private[:2]
    top = uncertainty.compare(accuracy, y[PUBLIC:], predictions[second][PUBLIC:], predictions[first][PUBLIC:], 10)
    print(f"{teams} teams of true accuracy 0.895-0.905, no overfitting: spearman {moves['spearman']:.3f}, "
          f"kendall {moves['kendall']:.3f}, shakeup {moves['shakeup']:.3f}, shakeup_top10 {moves['shakeup_top10']:.3f}")
    print(f"  the public #1 finished private #{private_rank[np.argmin(public_rank)]}; the private #1 was public "
          f"#{public_rank[first]}; the best true skill (team 1) finished private #{private_rank[0]}")
    print(f"  private #1 against #2: difference {top.difference * 100:+.2f} points "
          f"[{top.low * 100:+.2f}, {top.high * 100:+.2f}], McNemar p = {top.p:.3f}")
    print(f"  private tiers: {tiers.count(1)} teams in tier 1, {len(set(tiers))} tiers in all; "
          f"P(private rank 1) of the top five: {', '.join(f'{c:.2f}' for c in chances)}")


def cost(rng: np.random.Generator) -> None:
    y = rng.integers(0, 10, PUBLIC + PRIVATE)
    board = [right_rows(y, rng.random(len(y)) < s) for s in np.linspace(0.92, 0.88, 50)]
    for name in ("accuracy", "f1_macro"):
        metric, start, cpu = metrics.get(name), time.perf_counter(), time.process_time()
        uncertainty.intervals(metric, y, board, 10)
        uncertainty.tiers(metric, y, board, 10)
        uncertainty.p_first(metric, y, board[:5], 10)
        print(f"a 50-entry board on {len(y):,} rows, {name}: intervals, tiers and P(first) in "
              f"{time.perf_counter() - start:.2f} s ({time.process_time() - cpu:.2f} s of CPU)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=1000, help="simulated test sets for coverage (default 1000)")
    parser.add_argument("--teams", type=int, default=30, help="teams on the simulated board (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulation (default 0)")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    coverage(args.sets, rng)
    half_widths()
    shakeup(args.teams, rng)
    cost(rng)


if __name__ == "__main__":
    main()
