"""The one error type the endpoints raise, and the JSON body every error response carries."""

from __future__ import annotations

from http import HTTPStatus


class ApiError(Exception):
    """A client-visible failure: an HTTP status and a human-readable message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_body(message: str) -> dict[str, str]:
    return {"error": message}


def status_message(status: int) -> str:
    """The message for errors the framework raises itself (unknown route, wrong method), so
    Flask and Starlette answer with the same words rather than their own phrasing."""
    try:
        return HTTPStatus(status).phrase.lower()
    except ValueError:
        return "error"
