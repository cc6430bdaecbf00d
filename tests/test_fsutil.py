"""fsutil: the one build-beside-then-rename of a folder, the one picture writer and the one file hash."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from competition import fsutil
from competition.errors import InputError
from competition.server.export import export
from competition.server.store import Store
from tests.helpers import leftover, run_cli


def test_a_new_folder_is_built_beside_swept_of_dead_builds_and_placed_whole(tmp_path):
    dead = leftover(tmp_path, "out")
    alive = tmp_path / f".out.building-{os.getpid()}-live0000"  # a build of this process: in use
    alive.mkdir()
    with fsutil.new_dir(tmp_path / "out", "--out") as build:
        assert not dead.exists(), "a killed build's folder is swept before building"
        assert build.parent == tmp_path and build.name.startswith(".out.building-")
        (build / "a.txt").write_text("a")
        assert not (tmp_path / "out").exists(), "nothing in the final place before the block ends"
    assert (tmp_path / "out" / "a.txt").read_text() == "a" and alive.is_dir(), "a build in progress is kept"
    with pytest.raises(RuntimeError), fsutil.new_dir(tmp_path / "failed", "--out") as build:
        (build / "b.txt").write_text("b")
        raise RuntimeError("a failed build")
    assert not (tmp_path / "failed").exists() and not list(tmp_path.glob(".failed.*"))
    with pytest.raises(InputError, match="--out .*out: not empty"), fsutil.new_dir(tmp_path / "out", "--out"):
        pass


def test_an_export_to_dot_fills_the_empty_folder_it_runs_in(tmp_path, monkeypatch):
    here = tmp_path / "here"
    here.mkdir(mode=0o750)
    before = here.stat()
    Store(tmp_path / "grader.sqlite")
    monkeypatch.chdir(here)
    done = subprocess.run([sys.executable, "-m", "competition.server", "export", "--out", ".", "--db",
                           str(tmp_path / "grader.sqlite")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(here)) == ["files", "gradebook.csv", "leaderboard.md", "leaderboard.png", "sameness.csv",
                                       "standings.csv", "submissions.csv"]
    after = here.stat()
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode), "the same folder, filled in place"
    dead = leftover(here / "files", "files")  # a killed build inside an empty folder it was building
    with fsutil.new_dir(Path("files"), "--out") as build:
        assert build.parent == here / "files" and not dead.exists(), "built inside, a dead build swept first"
        (build / "a.txt").write_text("a")
    assert os.listdir(here / "files") == ["a.txt"]


def test_a_server_export_sweeps_what_a_killed_export_left(tmp_path):
    dead = leftover(tmp_path, "result")
    export(Store(tmp_path / "grader.sqlite"), tmp_path / "result", "class")
    assert not dead.exists() and (tmp_path / "result" / "standings.csv").is_file()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".result")) == []


def test_a_picture_is_written_whole_and_the_same_figure_gives_the_same_bytes(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for name in ("one.png", "two.png"):
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.plot([0, 1, 2], [2, 0, 1])
        written.append(fsutil.write_picture(tmp_path / name, fig).read_bytes())
        assert not plt.get_fignums(), "the figure is closed once written"
    assert written[0] == written[1] and b"Software" not in written[0]
    with Image.open(tmp_path / "one.png") as picture:
        assert picture.format == "PNG"
    canvas = Image.fromarray(np.full((4, 6, 3), 200, dtype=np.uint8))
    fsutil.write_picture(tmp_path / "canvas.png", canvas)
    with Image.open(tmp_path / "canvas.png") as picture:
        assert picture.format == "PNG" and picture.size == (6, 4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["canvas.png", "one.png", "two.png"], "no temporary left"


def test_a_files_hash_read_in_blocks_is_its_whole_contents_hash(tmp_path):
    data = os.urandom((1 << 20) * 2 + 7)  # across block boundaries
    (tmp_path / "data.zip").write_bytes(data)
    assert fsutil.sha256_file(tmp_path / "data.zip") == hashlib.sha256(data).hexdigest()


def test_a_work_file_whose_process_ended_is_swept_and_a_live_ones_kept(tmp_path):
    """What a download killed mid-fetch leaves (its zip) goes with the next sweep; this process's stays."""
    made = subprocess.run([sys.executable, "-c", "import sys; from competition import fsutil; "
                           "print(fsutil.work_file(sys.argv[1], 'out', '.zip'))", str(tmp_path)],
                          capture_output=True, text=True, check=True)
    left = Path(made.stdout.strip())
    mine = fsutil.work_file(tmp_path, "out", ".zip")
    assert left.is_file() and left.parent == tmp_path and left.suffix == ".zip"
    assert fsutil.sweep_stale(tmp_path, "out") == [left] and not left.exists() and mine.exists()


def test_a_new_folder_for_the_empty_working_folder_is_built_inside_and_fills_it(tmp_path, monkeypatch):
    """``--out .`` (a download, an export) in an empty folder: the work folder goes inside it (its
    parent may not be ours to write), the folder the user stands in is filled and nothing is left
    beside it; its own work folder never makes it look taken."""
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    with fsutil.new_dir(".", "--out") as build:
        assert build.parent == here
        (build / "train.csv").write_text("id,class\n")
        (build / "images").mkdir()
    assert sorted(p.name for p in here.iterdir()) == ["images", "train.csv"]
    assert os.path.samefile(".", here) and sorted(p.name for p in tmp_path.iterdir()) == ["here"]
    with pytest.raises(InputError, match="not empty"):
        with fsutil.new_dir(".", "--out"):
            pass


def _command(module: str, *args, cwd: Path) -> subprocess.CompletedProcess:
    """A command that must answer at once: a regression that blocks on the pipe fails by its timeout."""
    return run_cli(module, *args, cwd=cwd, timeout=60)


def test_a_named_pipe_is_refused_at_once_wherever_a_file_is_read(tmp_path, fashion_copy):
    """A FIFO with no writer as --labels, among the photos, as an image of a competition and as the
    roster: one line naming it, exit 1, within seconds (each would block for ever if opened)."""
    photos = tmp_path / "photos"
    for label in ("a", "b"):
        for i in range(3):
            (photos / label).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((8, 8), 40 * i + (label == "b") * 100,
                                    dtype=np.uint8)).save(photos / label / f"{i}.png")
    os.mkfifo(tmp_path / "labels.csv")
    os.mkfifo(photos / "a" / "pipe.png")
    test_id = (fashion_copy / "test_sample.csv").read_text().splitlines()[1].split(",")[0]
    image = fashion_copy / "images" / "test" / f"{test_id}.png"
    image.unlink()
    os.mkfifo(image)
    os.mkfifo(tmp_path / "roster.csv")
    cases = [
        (_command("competition.prepare", "--images", photos, "--labels", tmp_path / "labels.csv", "--out", "c",
                  cwd=tmp_path), f"{tmp_path / 'labels.csv'}: not a regular file (a named pipe)"),
        (_command("competition.prepare", "--images", photos, "--out", "c", cwd=tmp_path),
         f"{photos / 'a' / 'pipe.png'}: not a regular file (a named pipe)"),
        (_command("competition.data", "check", fashion_copy, cwd=tmp_path),
         f"{image}: not a regular file (a named pipe)"),
        (_command("competition.server", "add-teams", tmp_path / "roster.csv", "--out", tmp_path / "t.csv", "--db",
                  tmp_path / "g.sqlite", cwd=tmp_path),
         f"{tmp_path / 'roster.csv'}: not a regular file (a named pipe)"),
    ]
    for done, words in cases:
        assert done.returncode == 1 and done.stderr.startswith("error: ") and words in done.stderr, done.stderr
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "c").exists() and not (tmp_path / "t.csv").exists()


def test_check_regular_names_what_the_path_is(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_bytes(b"x")
    fsutil.check_regular(tmp_path / "file")
    assert fsutil.read_regular(tmp_path / "file") == b"x"
    for name, kind in (("pipe", "a named pipe"), ("folder", "a folder")):
        with pytest.raises(fsutil.NotRegularFile, match=f"{name}: not a regular file \\({kind}\\)"):
            fsutil.read_regular(tmp_path / name)


def test_a_file_an_option_names_is_refused_unless_regular_and_left_untouched(tmp_path):
    """``--ledger`` and ``--leaderboard`` (``check_regular_option``): a pipe named as the file to
    append to is refused in one line naming the option and what the path is, and stays a pipe."""
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "file").write_text("x")
    fsutil.check_regular_option("--ledger", tmp_path / "file")
    with pytest.raises(InputError, match=rf"^--ledger {tmp_path / 'pipe'}: not a regular file \(a named pipe\); "
                                         "it is left untouched$"):
        fsutil.check_regular_option("--ledger", tmp_path / "pipe")
    assert (tmp_path / "pipe").is_fifo()
