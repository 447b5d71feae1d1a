"""Every response the suite sees, recorded, and the check that the OpenAPI document has it.

In-process apps (Flask test clients, ThreadedServer) are heard through Flask's
`request_finished` signal, sent by every app after the whole pipeline has run; servers in
processes of their own (LeadAppServer) through their access-log lines, read when they
stop. conftest.py starts the recording and checks it when the session finishes: a
(route, method, status) that a test observed and the document lacks fails the run.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, Response, request, request_finished
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Rule

from leadapp.api.openapi import build_openapi, documented_methods, is_static_files, openapi_path
from leadapp.api.ops import API_VERSION

ACCESS_LOGGER = " leadapp.access "
# The import name of every app create_app builds: only theirs are described by the document.
LEADAPP = "leadapp"


def _operation_method(rule: Rule, method: str) -> str | None:
    """The documented method a request ran as (HEAD runs GET), or None for automatic ones."""
    methods = documented_methods(rule)
    if method == "HEAD" and "GET" in methods:
        return "GET"
    return method if method in methods else None


class Observations:
    """The (rule, method, status) of every response seen, in-process or in an access log."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seen: set[tuple[str, str, int]] = set()
        self.logged: set[tuple[str, str, int]] = set()  # (method, path, status), unrouted
        self.app: Flask | None = None  # the first app heard: its URL map routes the logs

    def on_response(self, sender: Flask, response: Response, **_extra: Any) -> None:
        """request_finished receiver: note the route, method and final status."""
        if sender.import_name != LEADAPP:
            return  # the bench's bare apps (ceiling) and the tests' own stubs have no document
        rule = request.url_rule
        if rule is None or is_static_files(rule):
            return  # no route matched (404, 405): there is no operation to document
        method = _operation_method(rule, request.method)
        if method is not None:
            with self._lock:
                self.app = self.app or sender
                self.seen.add((rule.rule, method, response.status_code))

    def read_access_log(self, text: str) -> None:
        """Note every access-log line of a server process's output."""
        for line in text.splitlines():
            _, found, payload = line.partition(ACCESS_LOGGER)
            if not found:
                continue
            try:
                entry = json.loads(payload)
                observed = (entry["method"], entry["path"], int(entry["status"]))
            except (ValueError, KeyError, TypeError):
                continue
            with self._lock:
                self.logged.add(observed)

    def start(self) -> None:
        """Hear every in-process app's responses from now on."""
        request_finished.connect(self.on_response, weak=False)

    def stop(self) -> None:
        """Stop hearing them."""
        request_finished.disconnect(self.on_response)

    @contextmanager
    def recording(self) -> Iterator[Observations]:
        """Record every in-process app's responses while the block runs."""
        self.start()
        try:
            yield self
        finally:
            self.stop()

    def _routed_logs(self, app: Flask) -> set[tuple[str, str, int]]:
        """The access-log observations, matched to the rules of `app`."""
        adapter = app.url_map.bind("localhost")
        routed = set()
        for method, path, status in self.logged:
            try:
                rule, _arguments = adapter.match(path, method, return_rule=True)
            except HTTPException:
                continue  # 404, 405: no operation
            operation_method = _operation_method(rule, method)
            if operation_method is not None and not is_static_files(rule):
                routed.add((rule.rule, operation_method, status))
        return routed

    def undocumented(self, app: Flask) -> list[str]:
        """Each observation the document built for `app` lacks, as a sentence."""
        paths = build_openapi(app, API_VERSION)["paths"]
        with self._lock:
            observed = self.seen | self._routed_logs(app)
        missing = []
        for rule, method, status in sorted(observed):
            path = openapi_path(rule)
            operation = paths.get(path, {}).get(method.lower())
            if operation is None:
                missing.append(f"{method} {path}: the document has no such operation")
            elif str(status) not in {str(code) for code in operation["responses"]}:
                missing.append(f"{method} {path} answered {status}; the document lacks it")
        return missing


def reference_app() -> Flask:
    """An app to build the document from when no in-process app was heard (keys made up)."""
    from cryptography.fernet import Fernet

    from leadapp import create_app

    keys = {
        "LEADAPP_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "LEADAPP_BLIND_INDEX_KEY": Fernet.generate_key().decode(),
    }
    saved = {name: os.environ.get(name) for name in keys}
    os.environ.update(keys)
    try:
        return create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def check_suite(observations: Observations) -> list[str]:
    """What the suite observed that the document lacks (empty when nothing was observed)."""
    if not observations.seen and not observations.logged:
        return []
    return observations.undocumented(observations.app or reference_app())


# The suite's one recorder: conftest.py starts it, LeadAppServer feeds it its access log.
SUITE = Observations()
