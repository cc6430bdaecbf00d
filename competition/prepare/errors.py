"""The error and the warning of ``prepare``: a refusal names the option or file, a warning what was skipped."""

from __future__ import annotations

from ..errors import InputError, InputWarning


class PrepareError(InputError):
    """Settings or source files that cannot make a competition; or an ``--out`` that is not ours."""


class PrepareWarning(InputWarning):
    """Source files skipped (not images, not decodable) or classes too small for cross-validation."""
