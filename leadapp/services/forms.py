"""Forms: look one up (cached per process), list, create or replace, remove; site-wide policies.

A form's document is read on every POST /f/<slug>, so each process keeps the live forms'
documents for at most FORM_CACHE_SECONDS (a change made elsewhere is in force here within
two periods: 10 seconds); a change made here is in force here at once. The `default` form
always exists: when its row is missing (a database built by create_all) its defaults stand.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask, current_app
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from leadapp.errors import NotFound, Problem, ValidationFailed, describe_fields
from leadapp.extensions import db
from leadapp.models.form import DEFAULT_FORM
from leadapp.models.form import Form as FormRow
from leadapp.models.lead import Lead
from leadapp.schemas.form import DEFAULTS, SLUG, load_form_document
from leadapp.services import audit
from leadapp.services.apikeys import ApiKeyIdentity
from leadapp.services.caches import get_or_refresh
from leadapp.timeutil import rfc3339, utcnow
from leadapp.ttlcache import TTLCache

log = logging.getLogger(__name__)

FORM_CACHE = "leadapp.form_cache"
# The form cache's entry for the origins of every live form (GET /challenge serves them all);
# no slug looks like it.
EVERY_FORM_ORIGINS = "*origins"
# At most this long, whatever LEADAPP_CACHE_SECONDS says: other processes must see a change
# within 10 seconds, and the cache serves an entry for up to two periods.
FORM_CACHE_SECONDS = 5.0
# The time a form that has no row (only `default`, on a database built without migrations)
# reports as created and updated.
EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")


class FormConflict(Problem, status=409, title="Conflict", slug="form-conflict"):
    """The change is not allowed for this form (the `default` form cannot be removed)."""


@dataclass(frozen=True)
class Form:
    """A live form: every member of its document, as stored (custom field definitions as dicts)."""

    slug: str
    title: str
    origins: tuple[str, ...] = ()
    consent_text: str | None = None
    challenge: bool = False
    success_url: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    fields: tuple[Mapping[str, Any], ...] = ()
    notify: tuple[str, ...] = ()
    autoresponder: Mapping[str, str] | None = None
    double_opt_in: bool = False
    one_lead_per_ip: bool = True
    created_at: datetime = EPOCH
    updated_at: datetime = EPOCH

    @classmethod
    def from_document(
        cls, slug: str, document: Mapping[str, Any], created_at: datetime, updated_at: datetime
    ) -> Form:
        """A form from its stored document (members missing from it take their defaults)."""
        members = {**DEFAULTS, "title": slug, **document}
        return cls(
            slug=slug,
            title=members["title"],
            origins=tuple(members["origins"]),
            consent_text=members["consent_text"],
            challenge=members["challenge"],
            success_url=members["success_url"],
            labels=dict(members["labels"]),
            fields=tuple(dict(definition) for definition in members["fields"]),
            notify=tuple(members["notify"]),
            autoresponder=members["autoresponder"],
            double_opt_in=members["double_opt_in"],
            one_lead_per_ip=members["one_lead_per_ip"],
            created_at=created_at,
            updated_at=updated_at,
        )

    def document(self) -> dict[str, Any]:
        """The settable members, as PUT takes them and the database stores them."""
        return {
            "title": self.title,
            "origins": list(self.origins),
            "consent_text": self.consent_text,
            "challenge": self.challenge,
            "success_url": self.success_url,
            "labels": dict(self.labels),
            "fields": [dict(definition) for definition in self.fields],
            "notify": list(self.notify),
            "autoresponder": dict(self.autoresponder) if self.autoresponder else None,
            "double_opt_in": self.double_opt_in,
            "one_lead_per_ip": self.one_lead_per_ip,
        }


def init_form_cache(app: Flask) -> None:
    """Create this app's cache of live forms by slug (the factory calls this)."""
    ttl = min(float(app.config["LEADAPP_CACHE_SECONDS"]), FORM_CACHE_SECONDS)
    app.extensions[FORM_CACHE] = TTLCache(ttl)


def is_slug(slug: str) -> bool:
    """Whether `slug` matches the pattern every form's slug does."""
    return len(slug) <= 40 and SLUG.fullmatch(slug) is not None


_FORMS = FormRow.__table__
_LEADS = Lead.__table__


def _row_to_form(row: Any) -> Form:
    """A Form from its table row."""
    return Form.from_document(row.slug, json.loads(row.document), row.created_at, row.updated_at)


def _read(connection: Any, slug: str) -> Any:
    """The form's row, live or removed, or None."""
    return connection.execute(select(_FORMS).where(_FORMS.c.slug == slug)).first()


def _load_live(slug: str) -> Form | None:
    """The live form from the database (the built-in `default` when it has no row)."""
    with db.engine.connect() as connection:
        row = _read(connection, slug)
    if row is None:
        return Form(slug=DEFAULT_FORM, title=DEFAULT_FORM) if slug == DEFAULT_FORM else None
    if row.removed_at is not None:
        return None
    return _row_to_form(row)


def get_form(slug: str) -> Form | None:
    """The live form with this slug, or None (a slug breaking the pattern is never looked up)."""
    if not is_slug(slug):
        return None
    return get_or_refresh(FORM_CACHE, slug, lambda: _load_live(slug))


def require_form(slug: str) -> Form:
    """The live form with this slug, or NotFound (404)."""
    form = get_form(slug)
    if form is None:
        raise NotFound("No form with this slug.")
    return form


def default_form() -> Form:
    """The `default` form, which always exists (POST /leads, GET /form-settings)."""
    return require_form(DEFAULT_FORM)


def latest_form(slug: str) -> Form | None:
    """The form with this slug, live or removed (as its last document); None if none ever was.

    Not cached: for reads of stored leads (an export), where a removed form still names them.
    """
    if not is_slug(slug):
        return None
    with db.engine.connect() as connection:
        row = _read(connection, slug)
    if row is None:
        return Form(slug=DEFAULT_FORM, title=DEFAULT_FORM) if slug == DEFAULT_FORM else None
    return _row_to_form(row)


def _forget(slug: str) -> None:
    """Drop this process's cached copy, so the change is in force here at once."""
    cache = current_app.extensions[FORM_CACHE]
    cache.discard(slug)
    cache.discard(EVERY_FORM_ORIGINS)


# --- Site-wide policies every form obeys ---------------------------------------------------


def challenge_required(form: Form) -> bool:
    """Whether anonymous posts need a solved challenge: the form's own, or LEADAPP_CHALLENGE."""
    return form.challenge or bool(current_app.config["LEADAPP_CHALLENGE"])


def consent_text(form: Form) -> str | None:
    """The consent text in force for this form: its own, else LEADAPP_CONSENT_TEXT."""
    return form.consent_text or current_app.config["LEADAPP_CONSENT_TEXT"]


def site_allows_origin(origin: str) -> bool:
    """Whether `origin` is one of LEADAPP_CORS_ORIGINS, allowed on every form."""
    return origin in current_app.config["LEADAPP_CORS_ORIGINS"]


def allows_origin(form: Form, origin: str) -> bool:
    """Whether a page on `origin` may use this form from a browser (CORS).

    The form's own origins, or LEADAPP_CORS_ORIGINS: short sequences, so a membership
    test allocates nothing on the hot path.
    """
    return origin in form.origins or site_allows_origin(origin)


def frame_origins(form: Form) -> list[str]:
    """The origins whose pages may embed this form's page: its own, then LEADAPP_CORS_ORIGINS."""
    return list(dict.fromkeys([*form.origins, *current_app.config["LEADAPP_CORS_ORIGINS"]]))


def any_form_allows_origin(origin: str) -> bool:
    """Whether a page on `origin` may use some live form, or the site (GET /challenge).

    The union of every live form's origins is read once per cache period, not per
    request. When it cannot be read (the database is down and nothing is cached),
    only LEADAPP_CORS_ORIGINS is allowed for one period: a lookup failing on the
    way out must not turn an answer into a 500.
    """
    if site_allows_origin(origin):
        return True
    try:
        origins = get_or_refresh(FORM_CACHE, EVERY_FORM_ORIGINS, _load_every_form_origins)
    except SQLAlchemyError as error:
        log.warning("forms: origins unreadable (%s); site-wide only", type(error).__name__)
        origins = current_app.extensions[FORM_CACHE].stale(EVERY_FORM_ORIGINS, frozenset())
    return origin in origins


def _load_every_form_origins() -> frozenset[str]:
    """The origins of every live form, from the database."""
    with db.engine.connect() as connection:
        documents = connection.execute(
            select(_FORMS.c.document).where(_FORMS.c.removed_at.is_(None))
        ).scalars()
        return frozenset(
            origin for document in documents for origin in json.loads(document).get("origins", ())
        )


def public_settings(form: Form) -> dict[str, Any]:
    """What a page needs to show the form: slug, title, challenge, consent text, labels, fields."""
    return {
        "slug": form.slug,
        "title": form.title,
        "challenge": challenge_required(form),
        "consent_text": consent_text(form),
        "labels": dict(form.labels),
        "fields": [dict(definition) for definition in form.fields],
    }


# --- The admin API ---------------------------------------------------------------------------


def _lead_counts(connection: Any, slugs: list[str] | None = None) -> dict[str, int]:
    """How many stored leads each form has."""
    query = select(_LEADS.c.form, func.count()).group_by(_LEADS.c.form)
    if slugs is not None:
        query = query.where(_LEADS.c.form.in_(slugs))
    return {slug: count for slug, count in connection.execute(query)}


def _as_document(form: Form, leads: int) -> dict[str, Any]:
    """The form's document as the admin API returns it, read-only members included."""
    return {
        "slug": form.slug,
        **form.document(),
        "created_at": form.created_at,
        "updated_at": form.updated_at,
        "leads": leads,
    }


def list_forms() -> list[dict[str, Any]]:
    """Every live form's document, `default` first, then by slug."""
    with db.engine.connect() as connection:
        rows = connection.execute(select(_FORMS).where(_FORMS.c.removed_at.is_(None))).all()
        counts = _lead_counts(connection)
    forms = {row.slug: _row_to_form(row) for row in rows}
    forms.setdefault(DEFAULT_FORM, Form(slug=DEFAULT_FORM, title=DEFAULT_FORM))
    ordered = sorted(forms.values(), key=lambda form: (form.slug != DEFAULT_FORM, form.slug))
    return [_as_document(form, counts.get(form.slug, 0)) for form in ordered]


def show_form(slug: str) -> dict[str, Any]:
    """One live form's document, or NotFound."""
    form = _load_live(slug) if is_slug(slug) else None
    if form is None:
        raise NotFound("No form with this slug.")
    with db.engine.connect() as connection:
        leads = _lead_counts(connection, [slug]).get(slug, 0)
    return _as_document(form, leads)


@dataclass(frozen=True)
class PutResult:
    """The form's document after a PUT, and whether the PUT created it."""

    document: dict[str, Any]
    created: bool


def put_form(api_key: ApiKeyIdentity, slug: str, body: Mapping[str, Any]) -> PutResult:
    """Create (a new or removed slug) or replace a form from a document; audited `form.put`.

    Members left out take their defaults; read-only members given must equal the stored
    ones. Nothing is written when any member is wrong.
    """
    current = _load_live(slug) if is_slug(slug) else None
    stored = None
    if current is not None:
        with db.engine.connect() as connection:
            leads = _lead_counts(connection, [slug]).get(slug, 0)
        stored = _as_document(current, leads)
        stored = {**stored, "created_at": _rfc3339(current.created_at)}
        stored["updated_at"] = _rfc3339(current.updated_at)
    document, errors = load_form_document(body, slug, stored, current_app.config)
    if errors:
        raise ValidationFailed(
            "The form document has invalid members: " + describe_fields(errors) + ".",
            errors=errors,
        )
    now = utcnow()
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    for attempt in range(2):
        try:
            row, created, leads = _write(api_key, slug, text, now)
            break
        except IntegrityError:
            # Two PUTs of a new slug at once: the primary key let the other INSERT win;
            # this one replaces it, as a later PUT would.
            if attempt:
                raise
    if slug == DEFAULT_FORM and row is None:
        created = False  # `default` always exists; its first stored document replaces it
    _forget(slug)
    created_at = now if row is None or row.removed_at is not None else row.created_at
    form = Form.from_document(slug, document, created_at, now)
    return PutResult(_as_document(form, leads), created)


def _write(api_key: ApiKeyIdentity, slug: str, text: str, now: datetime) -> tuple[Any, bool, int]:
    """Store the document (insert, revive or replace) and its audit event, in one transaction."""
    with db.engine.begin() as connection:
        row = _read(connection, slug)
        created = row is None or row.removed_at is not None
        if row is None:
            connection.execute(
                insert(_FORMS).values(slug=slug, document=text, created_at=now, updated_at=now)
            )
        else:
            values: dict[str, Any] = {"document": text, "updated_at": now, "removed_at": None}
            if created:
                values["created_at"] = now
            connection.execute(update(_FORMS).where(_FORMS.c.slug == slug).values(**values))
        leads = _lead_counts(connection, [slug]).get(slug, 0)
        audit.record(connection, api_key, "form.put", [])
    return row, created, leads


def remove_form(api_key: ApiKeyIdentity, slug: str) -> None:
    """Remove a live form (its leads stay, naming it); `default` is a 409; audited."""
    if slug == DEFAULT_FORM:
        raise FormConflict("The default form cannot be removed.")
    if not is_slug(slug):
        raise NotFound("No form with this slug.")
    with db.engine.begin() as connection:
        removed = connection.execute(
            update(_FORMS)
            .where(_FORMS.c.slug == slug, _FORMS.c.removed_at.is_(None))
            .values(removed_at=utcnow())
        ).rowcount
        if not removed:
            raise NotFound("No form with this slug.")
        audit.record(connection, api_key, "form.remove", [])
    _forget(slug)


def _rfc3339(value: datetime) -> str:
    """A stored time as the API writes it (read-only members are compared in that form)."""
    return rfc3339(value)
