"""The console's session endpoints: the refresh token in an HttpOnly cookie, never in reach of
page scripts.

`signUp` / `logIn` with `refreshTokenInCookie: true` set the cookie instead of returning the
token. The cookie's path is `/auth`, so the browser sends it only to these two endpoints:

    POST /auth/refresh  -> 200 {accessToken, accessTokenExpiresAt, user} and a rotated cookie;
                           401 and the cookie cleared when there is no live session
    POST /auth/logout   -> 204; ends the session (its access tokens stop at once), clears the cookie

Both require `X-Requested-With: traylinx-console`: a page of another site can make a browser
send a form POST with cookies, but not a custom header (and SameSite=Strict keeps the cookie off
cross-site requests to begin with). API clients keep using `refreshSession` with the token in
the body, as before.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Request, Response, post
from litestar.datastructures import Cookie
from litestar.status_codes import HTTP_204_NO_CONTENT, HTTP_401_UNAUTHORIZED, HTTP_403_FORBIDDEN

from app.accounts.service import AuthSession
from app.errors import InvalidRefreshToken
from app.graphql.scalars import serialize_datetime

REFRESH_COOKIE = "traylinx_refresh"
COOKIE_PATH = "/auth"
CONSOLE_HEADER = "x-requested-with"
CONSOLE_HEADER_VALUE = "traylinx-console"


def refresh_cookie(request: Request[Any, Any, Any], token: str, lifetime: timedelta) -> Cookie:
    return Cookie(
        key=REFRESH_COOKIE,
        value=token,
        path=COOKIE_PATH,
        max_age=int(lifetime.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def cleared_cookie(request: Request[Any, Any, Any]) -> Cookie:
    return Cookie(
        key=REFRESH_COOKIE,
        value="",
        path=COOKIE_PATH,
        max_age=0,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _session_body(session: AuthSession) -> dict[str, Any]:
    user = session.user
    return {
        "accessToken": session.access_token,
        "accessTokenExpiresAt": serialize_datetime(session.access_token_expires_at),
        "user": {"id": str(user.id), "email": user.email, "name": user.name},
    }


def _error(message: str, code: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


def _from_console(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get(CONSOLE_HEADER) == CONSOLE_HEADER_VALUE


_NOT_FROM_CONSOLE = _error(
    f"Send `X-Requested-With: {CONSOLE_HEADER_VALUE}` with this request.", "FORBIDDEN"
)


@post("/auth/refresh", status_code=200)
async def refresh(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """A new access token for the session in the cookie, and the cookie rotated."""
    if not _from_console(request):
        return Response(_NOT_FROM_CONSOLE, status_code=HTTP_403_FORBIDDEN)
    services = request.app.state.services
    token = request.cookies.get(REFRESH_COOKIE)
    try:
        if not token:
            raise InvalidRefreshToken("No session.")
        session = await services.accounts.refresh(refresh_token=token)
    except InvalidRefreshToken:
        return Response(
            _error("The session has ended. Log in again.", "UNAUTHENTICATED"),
            status_code=HTTP_401_UNAUTHORIZED,
            cookies=[cleared_cookie(request)],
        )
    lifetime = services.settings.auth.refresh_token_ttl
    return Response(
        _session_body(session),
        cookies=[refresh_cookie(request, session.refresh_token, lifetime)],
        headers={"Cache-Control": "no-store"},
    )


@post("/auth/logout", status_code=200)
async def logout(request: Request[Any, Any, Any]) -> Response[Any]:
    """End the cookie's session; 204 whether or not there was one."""
    if not _from_console(request):
        return Response(_NOT_FROM_CONSOLE, status_code=HTTP_403_FORBIDDEN)
    token = request.cookies.get(REFRESH_COOKIE)
    if token:
        await request.app.state.services.accounts.end_session(refresh_token=token)
    return Response(None, status_code=HTTP_204_NO_CONTENT, cookies=[cleared_cookie(request)])


session_routes = [refresh, logout]
