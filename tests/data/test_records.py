"""``Layout``: the one place that says where a competition folder's files and its answer key are."""

from pathlib import Path

from competition.data.records import Layout


def test_the_answer_key_is_beside_the_folder_never_inside_it():
    layout = Layout(Path("/srv/data/fashion"))
    assert layout.grader == Path("/srv/data/fashion.grader")
    assert layout.solution_csv == Path("/srv/data/fashion.grader/solution.csv")
    assert layout.root not in layout.solution_csv.parents
    assert (layout.train_csv.name, layout.sample_csv.name, layout.classes_csv.name) == (
        "train.csv", "test_sample.csv", "classes.csv")


def test_prepare_writes_where_the_readers_read(fashion_small):
    """The folder ``prepare`` built holds each part where ``Layout`` says, the key included."""
    layout = Layout(fashion_small)
    for path in (layout.train_csv, layout.sample_csv, layout.solution_csv):
        assert path.is_file(), path
    assert layout.train_images.is_dir() and layout.test_images.is_dir()
