"""Exception types shared by the whole package.

Every error a user can cause (bad file, bad parameter, bad request) is an
:class:`AnomalertError`; the CLI and the service turn those into one clear line
or a 4xx JSON body instead of a traceback.
"""

from __future__ import annotations

__all__ = ["AnomalertError", "InputError", "NotFittedError", "ParameterError"]


class AnomalertError(Exception):
    """Base class of every error anomalert raises on purpose."""


class InputError(AnomalertError, ValueError):
    """Input data that cannot be used: names the file, row or column and what was expected."""


class ParameterError(AnomalertError, ValueError):
    """A detector, policy or command parameter outside its declared rule."""


class NotFittedError(AnomalertError, RuntimeError):
    """A detector used before ``fit`` (or before its first ``learn_one``)."""
