"""`flask --app leadapp mail test|deliveries|retry`."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from leadapp.channels.mail import deliveries as service
from leadapp.channels.mail.channel import configured, mail_channel_for
from leadapp.cli.deliveries import last_answer, retry_target
from leadapp.cli.tables import echo_table, when
from leadapp.models.outbox import DELIVERED, FAILED, PENDING
from leadapp.normalize import normalize_email_lookup
from leadapp.wording import plural

mail_cli = AppGroup("mail", help="Mail: a test mail, the deliveries, retries.")


@mail_cli.command("test")
@click.argument("address")
def mail_test(address: str) -> None:
    """Send one test mail to ADDRESS now; print the SMTP server's answer or the error."""
    if not configured(current_app.config):
        raise click.ClickException("LEADAPP_SMTP_URL is not set: there is no server to send to.")
    try:
        recipient = normalize_email_lookup(address.strip())
    except ValueError as error:
        raise click.ClickException(f"{address!r} is not an email address: {error}") from None
    channel = mail_channel_for()
    transport = channel.transport()
    sender = transport.sender()
    try:
        outcome = sender.send_envelope(channel.composer.test(recipient))
    finally:
        sender.close()
        transport.stop()
    if outcome.delivered:
        click.echo(f"Sent: the SMTP server answered {outcome.status}.")
        return
    raise click.ClickException(f"Not sent: {outcome.error}.")


@mail_cli.command("deliveries")
@click.option("--status", type=click.Choice((PENDING, DELIVERED, FAILED)), help="Only these.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
def mail_deliveries(status: str | None, limit: int) -> None:
    """The newest mails: id, kind, recipient, lead, attempts, status, last answer, next."""
    rows = service.list_deliveries(status, limit, with_recipient=True)
    if not rows:
        click.echo("No mails.")
        return
    columns = [("ID", 36), ("KIND", 12), ("RECIPIENT", 30), ("LEAD", 36), ("ATTEMPTS", -8)]
    columns += [("STATUS", 9), ("LAST ANSWER", 32), ("NEXT ATTEMPT", 0)]
    echo_table(
        columns,
        [
            (
                *(row.id, row.kind, row.recipient or "-", row.lead_id, row.attempts, row.status),
                last_answer(row, "SMTP", 32),
                when(row.next_attempt_at),
            )
            for row in rows
        ],
    )


@mail_cli.command("retry")
@click.argument("delivery_id", required=False)
@click.option("--failed", "all_failed", is_flag=True, help="Retry every failed mail.")
def mail_retry(delivery_id: str | None, all_failed: bool) -> None:
    """Put a failed mail (or, with --failed, every one) back in the queue, attempts reset."""
    target = retry_target(delivery_id, all_failed, "mail")
    try:
        count = service.retry(target)
    except service.MailRetryError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Queued {plural(count, 'failed mail')} again.")
