"""One API's own front end as the theme: ``THEME`` naming a directory that holds a built One API web UI
(``index.html`` and its files, as One API's ``web/build/<theme>``). Served as One API serves it: files as they
are, and ``index.html`` for every other page path (the single-page app routes them itself).

Only files inside the directory are served (no ``..``, no symlink leading out, no dotfiles); a path no file can
have (a NUL byte, a name too long) gets the page fallback like any other unknown path. ``index.html`` is
read once at start, as One API does, and sent with ``no-cache``; the other files may be cached for a week (One
API's ``Cache-Control``). ``/api`` and ``/v1`` never reach here. The JSON API's CSRF rule changes for this door:
see ``oneapi.api.csrf.SAME_ORIGIN_ONLY``.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

WEEK = 7 * 24 * 3600
HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


def add_theme(app: web.Application, root: Path, page_paths: str) -> None:
    root = root.resolve()
    index = (root / "index.html").read_bytes()

    def file_for(rel: str) -> Path | None:
        """The file ``rel`` names inside the directory, or None (the page fallback). A path the file system
        cannot take (a NUL byte, a name too long) names no file."""
        if not rel or "\0" in rel or any(part.startswith(".") for part in Path(rel).parts):
            return None
        try:
            path = (root / rel).resolve()
            if path.is_relative_to(root) and path.is_file() and path != root / "index.html":
                return path
        except (ValueError, OSError):
            pass
        return None

    async def serve(request: web.Request) -> web.StreamResponse:
        path = file_for(request.match_info.get("tail", ""))
        if path is not None:
            return web.FileResponse(path, headers={**HEADERS, "Cache-Control": f"max-age={WEEK}"})
        return web.Response(body=index, content_type="text/html", charset="utf-8",
                            headers={**HEADERS, "Cache-Control": "no-cache"})

    app.router.add_get(page_paths, serve)
