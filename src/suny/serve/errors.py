"""The server's refusals: each carries its HTTP status (4xx) and a message for the page."""

from __future__ import annotations

from suny.errors import SunyError


class ServeError(SunyError):
    """A request refused, with the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
