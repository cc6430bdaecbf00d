"""The blog's recipes are ``mlp-blog`` and ``cnn-blog`` (``--seed``/``--seeds`` are the random seeds);
their old names ``mlp-seed`` and ``cnn-seed`` still work for one release, each time with a warning
that names the new one."""

import subprocess
import sys

import pytest

from competition.errors import InputWarning
from competition.models import MODELS, RENAMED, model_name


def test_no_model_is_called_after_the_seed_options():
    assert not [name for name in MODELS if "seed" in name]
    assert set(RENAMED.values()) <= set(MODELS)


@pytest.mark.parametrize("old,new", [("mlp-seed", "mlp-blog"), ("cnn-seed", "cnn-blog")])
def test_an_old_name_reads_as_the_new_one_with_a_warning(old, new):
    with pytest.warns(InputWarning, match=f"model {old} is now called {new}; the old name will be refused"):
        assert model_name(old) == new
    assert model_name(new) == new


def test_an_old_name_works_on_the_command_line(fashion_small, tmp_path):
    """``tune --model mlp-seed`` is ``tune --model mlp-blog``, one warning line before: the recipe
    has no search space, which ``tune`` says under its new name."""
    done = subprocess.run([sys.executable, "-m", "competition.tune", "--model", "mlp-seed", "--data", fashion_small],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False)
    assert done.returncode == 1 and done.stderr == (
        "warning: model mlp-seed is now called mlp-blog; the old name will be refused from the next release\n"
        "error: model mlp-blog has no search space (it is kept as published); tune mlp instead\n"), done.stderr
