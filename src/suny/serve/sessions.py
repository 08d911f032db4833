"""Sessions: a random cookie ``suny_session`` (HttpOnly, SameSite=Strict) given with the first
answer to a browser that has none; uploads and jobs belong to the session that made them.

:class:`SessionMiddleware` reads the cookie (any other value than a token of ours counts as none),
puts the session into the request's state (:func:`session_of`) and sets the cookie on the answer
when it made a new one.
"""

from __future__ import annotations

import re
import secrets

from starlette.requests import Request, cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "suny_session"
#: What a session token looks like (``secrets.token_urlsafe(32)``).
TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


def session_of(request: Request) -> str:
    """The session of ``request`` (set by :class:`SessionMiddleware`)."""
    return str(request.state.session)


class SessionMiddleware:
    """Gives every HTTP request a session, from its cookie or new."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookies = b"; ".join(value for key, value in scope["headers"] if key == b"cookie")
        token = cookie_parser(cookies.decode("latin-1")).get(COOKIE, "")
        new = not TOKEN.fullmatch(token)
        if new:
            token = secrets.token_urlsafe(32)
        scope.setdefault("state", {})["session"] = token

        async def send_with_cookie(message: Message) -> None:
            if new and message["type"] == "http.response.start":
                cookie = f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"set-cookie", cookie.encode())],
                }
            await send(message)

        await self.app(scope, receive, send_with_cookie)
