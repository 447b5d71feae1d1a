"""How tests and docs/screenshots.py launch Debian's Chromium through Playwright."""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
# Never `playwright install`: the system Chromium, without sandbox, GPU or background traffic.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
