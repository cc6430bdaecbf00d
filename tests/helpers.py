"""What many test files share, in one place: running a command as a user runs it, reading its one
error line, a real grader server in a child process, hand-made competitions and submissions.
Fixtures live in the conftest.py files; these are plain functions and one class, imported by the
tests that use them (a test file never imports another)."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from competition import clock, fsutil
from competition.data.records import Layout
from competition.server.store import Store

SMALL_TRAIN, SMALL_TEST = 300, 100  # the session's slice of Fashion-MNIST (tests/conftest.py)


# Small settings so that every model trains in seconds on a few hundred rows.
QUICK = {
    "logreg": {"max_iter": 50},
    "dt": {},
    "rf": {"n_estimators": 20},
    "xgb": {"n_estimators": 20},
    "lgbm": {"n_estimators": 20},
    "mlp": {"epochs": 3, "hidden": (32,), "batch_size": 32, "verbose": 0},
    "mlp-blog": {"epochs": 3, "batch_size": 32, "verbose": 0},
    "cnn": {"epochs": 4, "width": 8, "stages": 2, "batch_size": 16, "verbose": 0},
    "cnn-quick": {"width": 8, "stages": 2, "batch_size": 16, "verbose": 0},
    "cnn-blog": {"epochs": 1, "filters": (8, 8, 16, 16), "dense": (32,), "batch_size": 32, "verbose": 0},
}


# --- commands ------------------------------------------------------------------------------------

def run_cli(module: str, *args, cwd: Path | str | None = None, env: dict | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m MODULE ARGS`` in a child process, as a user types it: its output captured as text.
    ``env`` adds to (or replaces in) this process's environment; ``timeout`` only bounds a hang."""
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, check=False, env=None if env is None else {**os.environ, **env})


def run_main(main, *args, cwd: Path | str | None = None) -> subprocess.CompletedProcess:
    """A command's ``main(argv)`` run in this process, read as ``run_cli`` reads a child: the exit code
    (``main``'s return value, or ``SystemExit``'s code), what it printed as text. For a test about what a
    command does, not about its process (start-up, signals, a second process at once): no start-up to pay."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(cwd or "."), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(arg) for arg in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return subprocess.CompletedProcess([main.__module__, *map(str, args)], code, out.getvalue(), err.getvalue())


def one_error_line(done: subprocess.CompletedProcess) -> str:
    """The one line a refused command prints (exit 1, ``error: ...``, no traceback)."""
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def refused(done: subprocess.CompletedProcess, words: str) -> None:
    """A command refused with exit 1 and one ``error:`` line that says ``words``."""
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ") and words in done.stderr, done.stderr


def host(db: Path, *args: str) -> subprocess.CompletedProcess:
    """A host's command (``python -m competition.server ...``) on the database ``db``."""
    return run_cli("competition.server", *args, "--db", db, timeout=120)


def default_ctrl_c() -> None:
    """SIGINT as a terminal's foreground process has it: a test suite started in the background
    (``nohup make test &``) hands its children SIGINT ignored, and Python keeps it ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# --- records and folders -------------------------------------------------------------------------

def check_provenance(record: dict) -> None:
    """``record`` says what made it, as ``provenance.record`` writes it: ``created`` in UTC with a Z."""
    assert {"git_commit", "versions", "command", "created"} <= set(record)
    assert record["created"].endswith("Z") and clock.iso(clock.parse(record["created"])) == record["created"]
    assert record["versions"]["python"] and isinstance(record["command"], list)


def leftover(parent: Path, name: str) -> Path:
    """What ``kill -9`` leaves of a build of ``parent/name``: its hidden work folder, with a lock
    file nobody holds and the id of a process that has ended."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder = parent / f".{name}.building-{dead.pid}-abcd1234"
    folder.mkdir(parents=True)
    (folder / fsutil.WORK_LOCK).touch()
    (folder / "half-written.csv").write_text("id,class\n")
    return folder


def write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.squeeze() if array.ndim == 3 and array.shape[2] == 1 else array).save(path)


def make_competition(root: Path, train: dict[str, object], test_ids: list[str], shape=(8, 8, 3),
                     seed: int = 0, sample_label: object = None) -> tuple[Path, dict[str, np.ndarray]]:
    """Write a competition folder: ``train`` maps id -> label; every image is random pixels of
    ``shape``. Returns the folder and the pixels written, by ``"train/<id>"`` / ``"test/<id>"``."""
    rng = np.random.default_rng(seed)
    pixels = {}
    for part, ids in (("train", list(train)), ("test", test_ids)):
        for image_id in ids:
            pixels[f"{part}/{image_id}"] = rng.integers(0, 256, size=shape, dtype=np.uint8)
            write_png(root / "images" / part / f"{image_id}.png", pixels[f"{part}/{image_id}"])
    pd.DataFrame({"id": list(train), "class": list(train.values())}).to_csv(root / "train.csv", index=False)
    placeholder = sample_label if sample_label is not None else next(iter(train.values()))
    pd.DataFrame({"id": test_ids, "class": placeholder}).to_csv(root / "test_sample.csv", index=False)
    return root, pixels


# --- the grader server ---------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python -m competition.server serve`` in a child process, until ``stop``."""

    def __init__(self, data: Path, db: Path, *options: str, graders: str | None = "1"):
        self.data, self.db, self.options = data, db, options
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(db).with_name(f"serve-{self.port}.log")  # the server's output, read by tests
        # one grading process (the server's own) unless a test asks for more, or (None) serve's default
        graders = [] if graders is None or "--graders" in options or "--workers" in options else ["--graders", graders]
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "competition.server", "serve", "--data", str(data), "--db", str(db),
                 "--port", str(self.port), *graders, *options], stdout=log, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                if self.process.poll() is not None:
                    raise RuntimeError(self.output())
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)

    def team(self, name: str) -> str:
        """A new team of one, added through the database while the server runs; its token."""
        return Store(self.db).add_team(name)

    def upload(self, token: str | None, data: bytes, name: str = "sub.csv", message: str = "",
               **kwargs) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.post(self.url + "/api/submissions", headers=headers, files={"file": (name, data, "text/csv")},
                          data={"message": message}, timeout=120, **kwargs)

    def get(self, path: str, token: str | None = None) -> httpx.Response:
        return httpx.get(self.url + path, headers={"Authorization": f"Bearer {token}"} if token else {}, timeout=60)


def grading_processes(server: Server) -> list[int]:
    """The pool's worker processes of ``serve --graders N`` (spawned children; not the resource tracker)."""
    found = subprocess.run(["pgrep", "-P", str(server.process.pid), "-f", "spawn_main"], capture_output=True, text=True,
                           check=False)
    return [int(pid) for pid in found.stdout.split()]


def answer_key(data: Path) -> pd.DataFrame:
    """The answer key ``prepare`` wrote beside the competition folder ``data``, read as text."""
    return pd.read_csv(Layout(data).solution_csv, dtype=str)


def submission(key: pd.DataFrame, wrong: int, seed: int = 0) -> bytes:
    """A valid submission with ``wrong`` rows mislabelled (chosen by ``seed``)."""
    labels = key["class"].to_numpy().copy()
    rows = np.random.default_rng(seed).permutation(len(labels))[:wrong]
    labels[rows] = [str((int(v) + 1) % 10) for v in labels[rows]]
    return pd.DataFrame({"id": key["id"], "class": labels}).to_csv(index=False).encode()


def public_score(key: pd.DataFrame, data: bytes) -> float:
    predicted = pd.read_csv(io.BytesIO(data), dtype=str).set_index("id")["class"]
    public = key[key["Usage"] == "Public"]
    return float((predicted[public["id"]].to_numpy() == public["class"].to_numpy()).mean())


def chromium(javascript: bool = True):
    """Debian's headless Chromium through its chromedriver (no browser download: none is possible here);
    ``javascript=False``: a student's browser with scripts off."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for program in ("/usr/bin/chromium", "/usr/bin/chromedriver"):
        if not os.path.exists(program):
            pytest.fail(f"{program} is missing: apt-get install chromium chromium-driver (make test does)")
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1100,800"):
        options.add_argument(flag)
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    options.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
