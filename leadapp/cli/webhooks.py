"""`flask --app leadapp webhooks add|list|remove|deliveries|retry|worker`."""

from __future__ import annotations

import logging
import signal
import threading

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.exc import SQLAlchemyError

from leadapp.channels.webhook import endpoints as service
from leadapp.cli.deliveries import last_answer, retry_target
from leadapp.cli.tables import echo_table, when
from leadapp.models.outbox import DELIVERED, FAILED, PENDING, STATUSES
from leadapp.outbox.events import EVENTS
from leadapp.outbox.worker import Worker
from leadapp.wording import plural

webhooks_cli = AppGroup("webhooks", help="Webhook endpoints, deliveries and the worker.")


@webhooks_cli.command("add")
@click.argument("url")
@click.option(
    "--event",
    "events",
    multiple=True,
    type=click.Choice(EVENTS),
    help="An event to subscribe to (repeatable); default: all.",
)
@click.option(
    "--form",
    "forms",
    multiple=True,
    metavar="SLUG",
    help="Only this form's leads (repeatable); default: every form's.",
)
def webhooks_add(url: str, events: tuple[str, ...], forms: tuple[str, ...]) -> None:
    """Subscribe URL; print its id, then its signing secret alone on the last line."""
    try:
        endpoint, secret = service.add_endpoint(url, events, forms)
    except service.WebhookError as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        f"Added endpoint {endpoint.id} for {', '.join(endpoint.events)} "
        f"of {_forms(endpoint.forms)}."
    )
    click.echo("Its signing secret follows; store it now, it cannot be shown again:")
    click.echo(secret)


def _forms(forms: list[str] | None) -> str:
    """An endpoint's forms as listed: `every form`, or their slugs."""
    return "every form" if forms is None else ",".join(forms)


@webhooks_cli.command("list")
def webhooks_list() -> None:
    """List endpoints (id, URL, events, forms, created), never the secret."""
    rows = service.list_endpoints()
    if not rows:
        click.echo("No webhook endpoints.")
        return
    echo_table(
        [("ID", 36), ("CREATED", 19), ("EVENTS", 24), ("FORMS", 24), ("URL", 0)],
        [
            (row.id, when(row.created_at), ",".join(row.events), _forms(row.forms), row.url)
            for row in rows
        ],
    )


@webhooks_cli.command("remove")
@click.argument("id_or_url")
def webhooks_remove(id_or_url: str) -> None:
    """Remove an endpoint by id or URL; its undelivered deliveries are cancelled."""
    try:
        endpoint, cancelled = service.remove_endpoint(id_or_url)
    except service.WebhookError as error:
        raise click.ClickException(str(error)) from None
    undelivered = plural(cancelled, "undelivered delivery", "undelivered deliveries")
    click.echo(f"Removed endpoint {endpoint.id}; cancelled {undelivered}.")


@webhooks_cli.command("deliveries")
@click.option("--status", type=click.Choice(STATUSES), help="Only deliveries in this state.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
def webhooks_deliveries(status: str | None, limit: int) -> None:
    """The newest deliveries: id, endpoint, event, lead, attempts, status, last result, next."""
    rows = service.list_deliveries(status, limit)
    if not rows:
        click.echo("No deliveries.")
        return
    columns = [("ID", 36), ("ENDPOINT", 36), ("EVENT", 12), ("LEAD", 36), ("ATTEMPTS", -8)]
    columns += [("STATUS", 9), ("LAST RESULT", 30), ("NEXT ATTEMPT", 0)]
    echo_table(
        columns,
        [
            (
                *(row.id, row.endpoint_id, row.event, row.lead_id, row.attempts, row.status),
                last_answer(row, "HTTP", 30),
                when(row.next_attempt_at),
            )
            for row in rows
        ],
    )


@webhooks_cli.command("retry")
@click.argument("delivery_id", required=False)
@click.option("--failed", "all_failed", is_flag=True, help="Retry every failed delivery.")
def webhooks_retry(delivery_id: str | None, all_failed: bool) -> None:
    """Put a failed delivery (or, with --failed, every one) back in the queue, attempts reset."""
    target = retry_target(delivery_id, all_failed, "delivery")
    try:
        count = service.retry(target)
    except service.WebhookError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Queued {plural(count, 'failed delivery', 'failed deliveries')} again.")


@webhooks_cli.command("worker")
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 64))
def webhooks_worker(concurrency: int) -> None:
    """Deliver in the foreground until SIGTERM or SIGINT; then finish the attempts under way."""
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
    logging.getLogger("leadapp").setLevel(logging.INFO)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    worker = Worker(app, concurrency=concurrency).start()
    try:
        counts = service.count_by_status()
        queued = (
            f" ({counts.get(PENDING, 0)} pending, {counts.get(FAILED, 0)} failed, "
            f"{counts.get(DELIVERED, 0)} delivered)"
        )
    except SQLAlchemyError:
        queued = " (the database does not answer yet)"
    click.echo(
        f"Webhook worker {worker.id} delivering{queued}; SIGTERM or Ctrl-C stops it.", err=True
    )
    reason = None
    while not stop.wait(0.5):
        # Its threads keep dying: exit non-zero (a supervisor such as systemd restarts or
        # reports it) rather than idle while nothing is delivered.
        reason = worker.gave_up()
        if reason is not None:
            break
    finished = worker.stop(timeout=worker.timeout + 5)
    if reason is not None:
        raise click.ClickException(f"webhook worker {worker.id} cannot run: {reason}")
    click.echo(
        "Webhook worker stopped." if finished else "Webhook worker stopped mid-attempt.", err=True
    )
