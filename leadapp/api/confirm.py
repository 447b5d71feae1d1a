"""Double opt-in's link, `/confirm/<token>`: a page with a button (GET), the confirmation (POST).

GET confirms nothing: mail scanners and link previews open links, and a person has not
agreed to anything until they press the button, which posts to the same URL. Both are
HTML pages (Jinja2, autoescaping; templates in leadapp/web/templates/confirm/), and so is
every error on them (404 unknown link, 410 expired, the pipeline's 403, 503).
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request

from leadapp.api.hosted import HTML, TEMPLATES
from leadapp.api.responses import DATABASE, responds
from leadapp.errors import render_error
from leadapp.http.client import client_ip
from leadapp.http.security_headers import redirecting_form_policy
from leadapp.services import opt_in
from leadapp.services.opt_in_links import CONFIRMED

bp = Blueprint("confirm", __name__, template_folder=TEMPLATES)

# What a person reads on the error pages, by status: the problem's words otherwise.
ERROR_WORDS = {
    404: (
        "Link not known",
        "This confirmation link is not known. A newer link may have replaced it (see the "
        "latest mail sent to your address), or the details it was for have been erased.",
    ),
    410: (
        "Link expired",
        "This confirmation link has expired: the address was not confirmed in time, so "
        "the details sent with it are erased. You are welcome to send the form again.",
    ),
}


def _html(text: str, status: int) -> Response:
    """An HTML page."""
    return Response(text, status, content_type=HTML)


def _done(state: opt_in.LinkState) -> Response:
    """The page saying the address is confirmed (now, or before)."""
    return _html(
        render_template("confirm/done.html", form=state.form, confirmed_now=state.confirmed_now),
        200,
    )


@bp.get("/confirm/<token>")
@responds(200, 404, 410, *DATABASE)
def confirm_page(token: str) -> Response:
    """The link's page: a button that confirms, or "already confirmed"; it changes nothing."""
    state = opt_in.link_state(token)
    if state.status == CONFIRMED:
        return _done(state)
    response = _html(
        render_template("confirm/page.html", form=state.form, action=request.path), 200
    )
    # The button's post may be answered with a redirect to the form's success_url.
    success_url = state.form.success_url if state.form else None
    response.headers["Content-Security-Policy"] = redirecting_form_policy(success_url)
    return response


@bp.post("/confirm/<token>")
@responds(200, 303, 404, 410, *DATABASE)
def confirm_link(token: str) -> Response:
    """Confirm once: the confirmed page, or 303 to the form's success_url; else "already"."""
    state = opt_in.confirm(token, client_ip())
    if state.confirmed_now and state.form is not None and state.form.success_url:
        return Response(b"", 303, {"Location": state.form.success_url}, content_type=HTML)
    return _done(state)


def error_page(error: Exception) -> Response:
    """Any error on these paths as an HTML page with the problem's status and headers."""
    problem_response = render_error(error)
    status = problem_response.status_code
    problem = problem_response.get_json(silent=True) or {}
    heading, text = ERROR_WORDS.get(
        status,
        (problem.get("title") or "Something went wrong", problem.get("detail") or ""),
    )
    response = _html(render_template("confirm/error.html", heading=heading, text=text), status)
    for name, value in problem_response.headers.items():
        if name.lower() not in ("content-type", "content-length"):
            response.headers[name] = value
    return response


bp.register_error_handler(Exception, error_page)
