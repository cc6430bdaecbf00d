"""The pure core of ``prepare``'s split, in memory and in scikit-learn's manner: a few labels and
groups in, the properties every split must have checked out (groups never straddle the split,
every class keeps a training image, the shares are met to the image), no folder written."""

import numpy as np
import pytest

from competition.prepare import splits  # its test_share, imported by name, would be collected as a test
from competition.prepare.errors import PrepareError
from competition.prepare.splits import allocate, public_rows, split_by_group


@pytest.mark.parametrize("counts, share", [([10, 10, 10], 0.3), ([7, 3, 1], 0.5), ([1, 1, 1, 1], 0.25),
                                           ([100, 1], 0.2), ([5], 0.0), ([3, 3], 0.999)])
def test_allocate_takes_the_share_of_each_count_in_whole_numbers(counts, share):
    taken = allocate(np.array(counts), share)
    exact = np.array(counts) * share
    assert taken.sum() == round(share * sum(counts))  # the total is the share of the whole
    assert np.all(taken >= np.floor(exact)) and np.all(taken <= np.ceil(exact))  # each within one of its share


def test_allocate_gives_the_leftover_to_the_largest_remainders():
    assert allocate(np.array([4, 6]), 0.5).tolist() == [2, 3]
    assert allocate(np.array([1, 1, 1]), 0.5).tolist() == [1, 1, 0]  # ties: the first, stably
    assert allocate(np.array([2, 8]), 0.3).tolist() == [1, 2]  # 0.6 and 2.4: 0.6 has the larger remainder


def straddling(group: np.ndarray, test: np.ndarray) -> list[int]:
    """The groups with members on both sides of the split."""
    return [g for g in np.unique(group[group >= 0]) if len(set(test[group == g].tolist())) > 1]


def test_split_by_group_never_lets_a_group_straddle_the_split():
    rng = np.random.default_rng(0)
    labels = np.repeat(["a", "b", "c"], 40)
    group = np.full(len(labels), -1)
    for g, start in enumerate(range(0, len(labels), 4)):  # groups of 3 copies inside each class, then a loner
        group[start:start + 3] = g
    for seed in range(20):
        test = split_by_group(labels, group, 0.25, np.random.default_rng(seed))
        assert straddling(group, test) == []
    test = split_by_group(labels, group, 0.25, rng)
    assert test.dtype == bool and test.shape == labels.shape


def test_split_by_group_takes_the_share_of_each_class_when_the_groups_allow():
    labels = np.array(["a"] * 20 + ["b"] * 10)
    alone = np.full(len(labels), -1)  # no copies: every image its own unit, the share met exactly
    test = split_by_group(labels, alone, 0.3, np.random.default_rng(1))
    assert (test[labels == "a"].sum(), test[labels == "b"].sum()) == (6, 3)


def test_split_by_group_keeps_a_training_image_of_every_class():
    labels = np.array(["a", "a", "b", "b", "c", "c"])
    test = split_by_group(labels, np.full(6, -1), 0.9, np.random.default_rng(0))
    for c in "abc":
        assert (~test[labels == c]).any()  # a share near 1 still leaves one to learn from


def test_split_by_group_moves_whole_groups_only_and_never_overshoots():
    labels = np.array(["a"] * 6)
    group = np.array([0, 0, 0, 1, 1, 1])  # two groups of three: a share of 2 images cannot be met
    test = split_by_group(labels, group, 1 / 3, np.random.default_rng(0))
    assert not test.any()  # taking a group of three would overshoot the two wanted


def test_split_by_group_is_the_seed_s():
    labels = np.repeat(["a", "b"], 50)
    group = np.full(100, -1)
    first, again = (split_by_group(labels, group, 0.2, np.random.default_rng(7)) for _ in range(2))
    other = split_by_group(labels, group, 0.2, np.random.default_rng(8))
    assert np.array_equal(first, again) and not np.array_equal(first, other)


def test_public_rows_takes_the_share_of_each_class():
    labels = np.array(["x"] * 10 + ["y"] * 20 + ["z"] * 3)
    public = public_rows(labels, 0.3, np.random.default_rng(0))
    assert [int(public[labels == c].sum()) for c in "xyz"] == allocate(np.array([10, 20, 3]), 0.3).tolist()
    assert np.array_equal(public, public_rows(labels, 0.3, np.random.default_rng(0)))


def test_test_share_reads_a_fraction_or_a_count():
    assert splits.test_share(0.25, 100) == 0.25
    assert splits.test_share(20, 100) == 0.2
    with pytest.raises(PrepareError, match=r"--test-size 100: there are only 100 images to split"):
        splits.test_share(100, 100)
