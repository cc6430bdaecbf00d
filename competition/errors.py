"""The base classes of foreseen, user-fixable errors and warnings.

Every error the toolkit raises on purpose for bad input (a broken CSV, a corrupt run folder, an
impossible option) derives from ``InputError``: its message names the file, row, field or option.
The command lines (``competition.cli``) print such an error as one line and exit with code 1, and
an ``InputWarning`` as one ``warning:`` line; anything else is a bug and keeps its traceback.
``ParameterError`` (a model's impossible parameter) is made on first use; see ``__getattr__``.
"""

from __future__ import annotations

import threading


class InputError(ValueError):
    """Bad input the user can fix; the message says what and where."""


class InputWarning(UserWarning):
    """Something odd but usable, or skipped (a corrupt run among good ones); the message names it."""


_made = threading.Lock()


def _parameter_error() -> type:
    """``ParameterError``, an ``InputError`` that is also scikit-learn's ``InvalidParameterError``
    (the error its own estimators raise for the same mistake, which its checks expect)."""
    from sklearn.utils._param_validation import InvalidParameterError

    return type("ParameterError", (InputError, InvalidParameterError), {
        "__module__": __name__,
        "__doc__": "An unknown model, an unknown parameter, or a parameter value the model cannot take; the one "
                   "line names the parameter, the value and what is allowed."})


def __getattr__(name: str) -> type:
    """``ParameterError`` is made on first use: it derives from a scikit-learn class, and importing
    scikit-learn (one to three seconds) is no cost every command should pay for its errors module.
    Made once, under a lock, so that every ``except ParameterError`` catches every one raised."""
    if name != "ParameterError":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _made:
        if name not in globals():
            globals()[name] = _parameter_error()
    return globals()[name]
