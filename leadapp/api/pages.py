"""The web pages blueprint ("web"): the admin page at `/admin` and the pages' assets.

The admin page is static HTML; all behaviour lives in separate scripts under
leadapp/web/static/ (a folder of files, not a Python package), so the strict
Content-Security-Policy of http/security_headers.py (no inline script or style) holds. The lead
form at `/` is the default form's hosted page (api/hosted.py).
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_from_directory

from leadapp.api.responses import responds

STATIC_DIR = Path(__file__).resolve().parent.parent / "web" / "static"

# Not /static: Flask 3 registers the app's own /static route (for leadapp/static, which does
# not exist) before any blueprint's, and the first rule wins.
bp = Blueprint("web", __name__, static_folder=STATIC_DIR, static_url_path="/assets")


def _page(filename: str) -> Response:
    """Serve one of the static HTML pages; the browser revalidates it on every visit."""
    return send_from_directory(STATIC_DIR, filename, mimetype="text/html")


@bp.get("/admin")
@responds(200, 304)
def admin() -> Response:
    """The admin page: list, find and erase leads with an API key."""
    return _page("admin.html")
