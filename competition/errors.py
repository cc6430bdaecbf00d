"""The base classes of foreseen, user-fixable errors and warnings.

Every error the toolkit raises on purpose for bad input (a broken CSV, a corrupt run folder, an
impossible option) derives from ``InputError``: its message names the file, row, field or option.
The command lines (``competition.cli``) print such an error as one line and exit with code 1, and
an ``InputWarning`` as one ``warning:`` line; anything else is a bug and keeps its traceback.
``ParameterError`` is a model's impossible parameter.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input the user can fix; the message says what and where."""


class InputWarning(UserWarning):
    """Something odd but usable, or skipped (a corrupt run among good ones); the message names it."""


class ParameterError(InputError):
    """An unknown model, an unknown parameter, or a parameter value the model cannot take; the one
    line names the parameter, the value and what is allowed. A model's own validation raises it as
    scikit-learn's ``InvalidParameterError`` too (``models.pixels.EstimatorParameterError``)."""
