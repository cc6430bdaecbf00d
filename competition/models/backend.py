"""Which Keras backend the networks train on, chosen before Keras is imported (it reads
``KERAS_BACKEND`` once). Apart from the model registry, so that ``networks`` can choose it on
import without importing the registry that builds the networks."""

from __future__ import annotations

import os

from .. import extras

KERAS_BACKENDS = ("tensorflow", "jax", "torch")  # without KERAS_BACKEND, the first one installed


def default_keras_backend() -> str:
    """``KERAS_BACKEND`` if set, else the first of ``KERAS_BACKENDS`` installed: TensorFlow, the
    fastest on a CPU here, then JAX, so that a GPU machine with only JAX (or PyTorch) runs the same
    commands unchanged. With none installed, TensorFlow: ``make_model`` then says which extra installs it."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    return next((name for name in KERAS_BACKENDS if extras.installed(name)), "tensorflow")
