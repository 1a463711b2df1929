"""The admin console (the built web app of `web/`) at /admin/, and GraphiQL's local assets.

Files are served from the console's build directory (`web/dist`, or TRAYLINX_CONSOLE_DIR). A
path under /admin/ that names no file and does not look like one gets `index.html`, so deep links
such as /admin/projects/<id>/settings/api-keys load directly and survive a reload; a missing file
(a path whose last segment has a dot) is 404. Hashed assets are cached for good; `index.html`
never is, so a new build reaches browsers at once.

Every page carries a strict Content-Security-Policy: scripts, styles, fonts and requests only
from this origin, no inline script, no framing.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

from litestar import Request, Response, get
from litestar.response import File
from litestar.status_codes import HTTP_404_NOT_FOUND, HTTP_503_SERVICE_UNAVAILABLE

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_IMMUTABLE = "public, max-age=31536000, immutable"
_NOT_BUILT = (
    "<!doctype html><html lang=en><meta charset=utf-8><title>Console not built</title>"
    "<h1>The console is not built</h1><p>Run <code>make install</code> (it needs Node.js 20 "
    "and npm), then reload this page.</p></html>"
)


class ConsoleFiles:
    """The files of one build directory, answered with the console's headers."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def answer(self, relative: str, *, fallback_to_index: bool) -> Response[Any]:
        path = self._existing(relative)
        if path is not None:
            return self._file(path)
        last_segment = relative.rstrip("/").rsplit("/", 1)[-1]
        if not fallback_to_index or "." in last_segment:
            return Response(
                "Not found.",
                status_code=HTTP_404_NOT_FOUND,
                media_type="text/plain",
                headers=SECURITY_HEADERS,
            )
        index = self.root / "index.html"
        if not index.is_file():
            return Response(
                _NOT_BUILT,
                status_code=HTTP_503_SERVICE_UNAVAILABLE,
                media_type="text/html",
                headers=SECURITY_HEADERS,
            )
        return self._file(index)

    def _existing(self, relative: str) -> Path | None:
        """The file `relative` names inside the root, or None (never anything outside it)."""
        candidate = (self.root / relative.lstrip("/")).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        return candidate

    def _file(self, path: Path) -> File:
        hashed = path.parent.name == "assets"
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return File(
            path,
            media_type=media_type,
            content_disposition_type="inline",
            headers={
                **SECURITY_HEADERS,
                "Cache-Control": _IMMUTABLE if hashed else "no-cache",
            },
        )


def console_routes(build_dir: Path) -> list[Any]:
    console = ConsoleFiles(build_dir)
    graphiql = ConsoleFiles(build_dir / "graphiql")

    # Litestar matches /admin and /admin/ alike: both get the app, whose router takes it on.
    @get("/admin", include_in_schema=False, sync_to_thread=False)
    def console_root() -> Response[Any]:
        return console.answer("", fallback_to_index=True)

    @get("/admin/{rest:path}", include_in_schema=False, sync_to_thread=False)
    def console_page(rest: str) -> Response[Any]:
        return console.answer(rest, fallback_to_index=True)

    @get("/graphiql/{rest:path}", include_in_schema=False, sync_to_thread=False)
    def graphiql_asset(rest: str) -> Response[Any]:
        return graphiql.answer(rest, fallback_to_index=False)

    return [console_root, console_page, graphiql_asset]


GRAPHIQL_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GraphiQL - TrayLinx Keys</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/graphiql/graphiql.min.css">
<link rel="stylesheet" href="/graphiql/plugin-explorer.css">
</head>
<body>
<div id="graphiql">Loading GraphiQL...</div>
<script src="/graphiql/react.production.min.js"></script>
<script src="/graphiql/react-dom.production.min.js"></script>
<script src="/graphiql/graphiql.min.js"></script>
<script src="/graphiql/plugin-explorer.umd.js"></script>
<script src="/graphiql/init.js"></script>
</body>
</html>
"""


def graphiql_page(request: Request[Any, Any, Any]) -> Response[str]:
    """GraphiQL from this service's own copies of its assets: no CDN, the console's CSP."""
    return Response(GRAPHIQL_PAGE, media_type="text/html", headers=SECURITY_HEADERS)
