"""Other sites than LeadApp, for the browser: fixed pages on a loopback port of their own.

A partner's page that embeds a form, a site a form does not allow, the page a form's
success_url names. The tests of the hosted page and docs/screenshots.py use them.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# A partner's page embedding a form: it keeps every message it receives, with its origin.
_FRAMING_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Partner site</title>
<link rel="icon" href="data:,"></head>
<body><h1>Partner site</h1>
<iframe id="leadapp" src="{src}" width="520" height="1100" title="Sign up"></iframe>
<script>
window.leadappMessages = [];
window.addEventListener("message", function (event) {{
  window.leadappMessages.push({{origin: event.origin, data: event.data}});
}});
</script></body></html>
"""


def framing_page(src: str) -> str:
    """A partner's page showing `src` in an iframe; `window.leadappMessages` keeps what it hears."""
    return _FRAMING_PAGE.format(src=src)


class StaticSite:
    """Fixed pages served on a free loopback port by a thread: another site than LeadApp."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                """Answer with the page at this path, or 404."""
                page = site.pages.get(self.path.split("?", 1)[0])
                body = (page or "not found").encode()
                self.send_response(200 if page is not None else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def origin(self) -> str:
        """The site's origin."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
