"""URL-map settings: routing never answers with a redirect built from the Host header."""

from __future__ import annotations

from flask import Flask


def configure_routing(app: Flask) -> None:
    """Serve slash variants in place instead of redirecting to them.

    Werkzeug's slash redirects (`http://host` or `?x` to `/`, `/a//b` to `/a/b`) build an
    absolute Location from the request's Host header, which a client (or a cache in front)
    can forge. With both settings off there is no redirect to forge: `GET ?x` is the form
    page, a doubled slash is 404. Must run before any rule is added, since each rule copies
    the map's setting when it is bound.
    """
    app.url_map.strict_slashes = False
    app.url_map.merge_slashes = False
