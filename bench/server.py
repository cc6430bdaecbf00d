"""Benchmark: the grader server under 200 concurrent uploads of a full-size submission.

    python bench/server.py [--data data/fashion-mnist] [--uploads 200] [--teams 20] [--threads 50]

Baseline, in the same run: the local grader (``grade.Grader`` into a ledger) grading one
10,000-row submission. Then a real server (``python -m competition.server serve`` on a free port,
a fresh database) takes ``--uploads`` distinct submissions from ``--teams`` teams at once: uploads
per second, p50/p95/max latency, and whether every one was counted exactly once.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from competition import ledger  # noqa: E402
from competition.grade import Grader  # noqa: E402
from competition.server.store import Store  # noqa: E402
from tests.test_server import Server  # noqa: E402


def submissions(data: Path, count: int) -> list[bytes]:
    """``count`` distinct valid submissions: the answer key's labels with 5-15% of rows changed."""
    key = pd.read_csv(data.with_name(data.name + ".grader") / "solution.csv", dtype=str)
    rng = np.random.default_rng(0)
    made = []
    for _ in range(count):
        labels = key["class"].to_numpy().copy()
        rows = rng.choice(len(labels), size=int(rng.uniform(0.05, 0.15) * len(labels)), replace=False)
        labels[rows] = [str((int(v) + 1) % 10) for v in labels[rows]]
        made.append(pd.DataFrame({"id": key["id"], "class": labels}).to_csv(index=False).encode())
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data/fashion-mnist"))
    parser.add_argument("--uploads", type=int, default=200)
    parser.add_argument("--teams", type=int, default=20)
    parser.add_argument("--threads", type=int, default=50)
    args = parser.parse_args()
    files = submissions(args.data, args.uploads + 1)
    rows = files[0].count(b"\n") - 1
    print(f"{args.uploads} uploads of {len(files[0]):,} bytes ({rows:,} rows) from "
          f"{args.teams} teams, {args.threads} at a time")
    with tempfile.TemporaryDirectory() as tmp:
        grader = Grader(args.data)
        start = time.perf_counter()
        grader.grade(files[-1], ledger.Ledger(Path(tmp) / "ledger.jsonl"), file="one.csv")
        local = time.perf_counter() - start
        print(f"baseline: local grade of one file             {local * 1000:8.1f} ms")

        store = Store(Path(tmp) / "grader.sqlite")
        tokens = [store.add_team(f"team{n:02d}") for n in range(args.teams)]
        per_team = -(-args.uploads // args.teams) + 1  # + the warm-up upload
        server = Server(args.data, Path(tmp) / "grader.sqlite", "--daily-limit", str(per_team))
        jobs = [(tokens[n % args.teams], files[n]) for n in range(args.uploads)]

        def timed(job):
            began = time.perf_counter()
            response = server.upload(*job)
            return response.status_code, time.perf_counter() - began

        try:
            server.upload(tokens[0], files[-1])  # warm up the server's first request (not timed, not counted)
            start = time.perf_counter()
            with ThreadPoolExecutor(args.threads) as pool:
                results = list(pool.map(timed, jobs))
            wall = time.perf_counter() - start
        finally:
            server.stop()
        latencies = np.array([seconds for _, seconds in results]) * 1000
        statuses = [status for status, _ in results]
        counted = sum(1 for row in Store(Path(tmp) / "grader.sqlite").submissions() if row["status"] == "ok") - 1
        print(f"server: {args.uploads / wall:6.1f} uploads/s over {wall:.2f} s; latency p50 "
              f"{np.percentile(latencies, 50):.0f} ms, p95 {np.percentile(latencies, 95):.0f} ms, "
              f"max {latencies.max():.0f} ms")
        print(f"server per upload at full load: {wall / args.uploads * 1000:.1f} ms "
              f"= {wall / args.uploads / local:.2f}x the local grade of one file")
        print(f"statuses: {dict(zip(*np.unique(statuses, return_counts=True)))}; counted {counted} of "
              f"{args.uploads} (every one exactly once: {counted == args.uploads and statuses.count(201) == args.uploads})")


if __name__ == "__main__":
    main()
