"""Errors the API turns into HTTP answers with a reason (never a stack trace)."""

from __future__ import annotations

from pipelines.errors import MeridianError


class ServingError(MeridianError):
    status_code = 500


class NotFound(ServingError):
    """An unknown symbol, model or resource: 404."""

    status_code = 404


class BadParameter(ServingError):
    """A parameter that cannot be served (bad horizon format, unknown model name): 422, in the
    same shape as the framework's own validation errors."""

    status_code = 422

    def __init__(self, message: str, loc: tuple[str, ...] = ("request",)) -> None:
        super().__init__(message)
        self.loc = loc


class Unavailable(ServingError):
    """Something the answer needs is not there right now (no models, store down): 503."""

    status_code = 503


def public_reason(exc: BaseException) -> str:
    """What a public endpoint may say about a failure: Meridian's own errors are written for users;
    anything else is named by its type only (its text can carry paths, pids and addresses)."""
    return str(exc) if isinstance(exc, MeridianError) else f"internal error ({type(exc).__name__}); see the serve log"
