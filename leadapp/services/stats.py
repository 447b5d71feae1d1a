"""Statistics for the operator: leads and spam per UTC day, leads per source and per form.

Answered by GROUP BY queries on plaintext columns (created_at, source, utm_source, form;
ix_leads_created_at_source_utm_source gives the range) and on the spam_counts table; no
lead is ever decrypted. Spam has no form (a honeypot hit stores nothing to name one), so
one form's figures carry every form's spam.

Grouping a year of leads costs time in proportion to their number, so each process keeps
the lead counts of closed days (days that ended more than SETTLE ago: intake only writes
the present) and recomputes only the open ones. A closed day's counts are kept by form and
source, so one cached day answers every form's figures and the breakdown by form, and a
slug a client names adds nothing to the cache. Only an erasure changes a closed day, and
every erasure writes an `erase` or `purge` audit event in its own transaction, so the
newest such event's id is the cache's version: any process sees an erasure made anywhere
on its next request. Spam counts are always read live (a few hundred rows at most).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import Flask, current_app
from sqlalchemy import Connection, Date, cast, func, select

from leadapp.extensions import db
from leadapp.models.audit import AuditEvent
from leadapp.models.lead import Lead
from leadapp.models.spam import SpamCount
from leadapp.timeutil import utcnow

# A lead's created_at is taken just before its INSERT commits; a day is closed once no
# transaction still open can carry one of its timestamps.
SETTLE = timedelta(seconds=60)
CACHE_EXTENSION = "leadapp.stats.closed_days"
ERASING_ACTIONS = ("erase", "purge")

DaySources = dict[str | None, int]
# One day's lead counts by (form, source): the source, or utm_source, or None.
DayCounts = dict[tuple[str, str | None], int]


@dataclass
class ClosedDays:
    """Per-day lead counts by form and source of closed days, valid for one erasure version."""

    version: int | None = None
    days: dict[date, DayCounts] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def init_stats_cache(app: Flask) -> None:
    """Create this app's cache of closed days (the factory calls this)."""
    app.extensions[CACHE_EXTENSION] = ClosedDays()


def _cache() -> ClosedDays:
    """The app's cache of closed days."""
    return current_app.extensions[CACHE_EXTENSION]


def _utc_day(connection: Connection, column: Any) -> Any:
    """The SQL expression of a timestamp column's UTC calendar day (a date, or SQLite's text)."""
    if connection.dialect.name == "postgresql":
        # timestamptz: name the zone, so the session's TimeZone setting cannot shift days.
        return cast(func.timezone("UTC", column), Date)
    # SQLite stores the UTC timestamp as text, 'YYYY-MM-DD HH:MM:SS.ffffff'.
    return func.substr(column, 1, 10)


def _midnight(day: date) -> datetime:
    """00:00 UTC of a day."""
    return datetime.combine(day, time(), tzinfo=UTC)


def window(days: int, today: date | None = None) -> tuple[date, datetime, datetime]:
    """The first day of the window, and its [start, end) in UTC: `days` days up to today."""
    today = today or utcnow().date()
    first = today - timedelta(days=days - 1)
    return first, _midnight(first), _midnight(today + timedelta(days=1))


def _group(connection: Connection, start: datetime, end: datetime) -> dict[date, DayCounts]:
    """Leads with start <= created_at < end, counted per UTC day, form and source (one pass)."""
    leads = Lead.__table__
    day = _utc_day(connection, leads.c.created_at).label("day")
    source = func.coalesce(leads.c.source, leads.c.utm_source).label("source")
    rows = connection.execute(
        select(day, leads.c.form, source, func.count().label("leads"))
        .where(leads.c.created_at >= start, leads.c.created_at < end)
        .group_by(day, leads.c.form, source)
    ).all()
    grouped: dict[date, DayCounts] = {}
    for row in rows:
        grouped.setdefault(_as_date(row.day), {})[(row.form, row.source)] = row.leads
    return grouped


def _erasure_version(connection: Connection) -> int | None:
    """The id of the newest erase/purge audit event (ix_audit_events_action_id answers it)."""
    audit = AuditEvent.__table__
    return connection.execute(
        select(func.max(audit.c.id)).where(audit.c.action.in_(ERASING_ACTIONS))
    ).scalar()


def _lead_counts(
    connection: Connection, first: date, last: date, now: datetime
) -> dict[date, DayCounts]:
    """Counts per day, form and source for first..last: closed days cached, the rest live."""
    cache = _cache()
    version = _erasure_version(connection)
    # Days before this one are closed.
    open_from = (now - SETTLE).date()
    closed = [
        first + timedelta(days=n)
        for n in range((min(last, open_from - timedelta(days=1)) - first).days + 1)
    ]
    with cache.lock:
        if cache.version != version:
            cache.version, cache.days = version, {}
        known = {day: cache.days[day] for day in closed if day in cache.days}
    missing = [day for day in closed if day not in known]
    counts = dict(known)
    if missing:
        fresh = _group(
            connection, _midnight(missing[0]), _midnight(missing[-1] + timedelta(days=1))
        )
        with cache.lock:
            for day in missing:
                counts[day] = fresh.get(day, {})
                if cache.version == version:
                    cache.days[day] = counts[day]
    live_from = max(first, open_from)
    if live_from <= last:
        counts.update(_group(connection, _midnight(live_from), _midnight(last + timedelta(days=1))))
    return counts


def daily_stats(days: int, today: date | None = None, form: str | None = None) -> dict[str, Any]:
    """Leads and spam per UTC day (oldest first, today last, empty days as zeros),
    leads per source (most first), and the total, over the last `days` days.

    With `form`, of that form's leads only (spam stays every form's); without, with the
    leads per form too (most first, ties by slug).
    """
    now = utcnow()
    first, _, end = window(days, today or now.date())
    last = end.date() - timedelta(days=1)
    spam = SpamCount.__table__
    with db.engine.connect() as connection:
        counts = _lead_counts(connection, first, last, now)
        spam_rows = connection.execute(
            select(spam.c.day, func.sum(spam.c.count))
            .where(spam.c.day >= first, spam.c.day <= last)
            .group_by(spam.c.day)
        ).all()
    spam_by_day = {_as_date(day_value): int(count or 0) for day_value, count in spam_rows}
    series = []
    by_source: DaySources = {}
    by_form: dict[str, int] = {}
    for offset in range(days):
        day = first + timedelta(days=offset)
        leads = 0
        for (slug, name), count in counts.get(day, {}).items():
            if form is not None and slug != form:
                continue
            by_source[name] = by_source.get(name, 0) + count
            by_form[slug] = by_form.get(slug, 0) + count
            leads += count
        series.append({"date": day, "leads": leads, "spam": spam_by_day.get(day, 0)})
    ranked = sorted(
        by_source.items(),
        # Most first; ties by name, the unattributed (null) group last among equals.
        key=lambda item: (-item[1], item[0] is None, item[0] or ""),
    )
    answer = {
        "days": series,
        "sources": [{"source": name, "leads": count} for name, count in ranked],
        "total_leads": sum(entry["leads"] for entry in series),
    }
    if form is None:
        forms = sorted(by_form.items(), key=lambda item: (-item[1], item[0]))
        answer["forms"] = [{"form": slug, "leads": count} for slug, count in forms]
    return answer


def _as_date(value: date | str) -> date:
    """A Date column's value (SQLite may hand it back as text)."""
    return date.fromisoformat(value) if isinstance(value, str) else value
