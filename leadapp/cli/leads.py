"""Leads: `flask --app leadapp leads export|purge`."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup
from marshmallow import ValidationError

from leadapp.schemas.fields import FormSlug
from leadapp.schemas.operator import parse_bound
from leadapp.services import export, opt_in, retention
from leadapp.wording import plural

leads_cli = AppGroup(
    "leads", help="Export leads as CSV; erase those past retention or left unconfirmed."
)


class BoundType(click.ParamType):
    """A date (00:00 UTC) or an RFC 3339 timestamp, as GET /leads/export.csv takes."""

    name = "TIME"

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        """Parse, or fail with a one-line usage error."""
        try:
            return parse_bound(value)
        except ValueError as error:
            self.fail(str(error), param, ctx)


class FormSlugType(click.ParamType):
    """A form's slug, checked as the `form` query argument is."""

    name = "SLUG"

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        """The slug, or a one-line usage error."""
        try:
            return FormSlug().deserialize(value)
        except ValidationError as error:
            self.fail(" ".join(error.messages), param, ctx)


@leads_cli.command("export")
@click.option("--from", "start", type=BoundType(), help="Only leads created at or after this.")
@click.option("--to", "end", type=BoundType(), help="Only leads created before this.")
@click.option(
    "--form",
    "form",
    type=FormSlugType(),
    help="Only this form's leads, with a column per custom field (as ?form= does).",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, allow_dash=True),
    default="-",
    help="File to write (default: stdout).",
)
def leads_export(start, end, form, output: str) -> None:  # type: ignore[no-untyped-def]
    """Write the CSV of GET /leads/export.csv, with progress on stderr."""
    if start is not None and end is not None and start > end:
        raise click.BadParameter("must not be later than --to", param_hint="--from")
    total = export.count_leads(start, end, form)
    target = click.open_file(output, "wb")
    with target, click.progressbar(length=total, label="Exporting leads", file=sys.stderr) as bar:
        for chunk in export.open_export(
            export.COMMAND_LINE_ACTOR, start, end, form=form, progress=bar.update
        ):
            target.write(chunk)
    click.echo(f"Exported {plural(total, 'lead')}.", err=True)


@leads_cli.command("purge")
def leads_purge() -> None:
    """Erase every lead older than LEADAPP_RETENTION_DAYS (as DELETE /leads/<id> does).

    First, whatever the retention, the double opt-in leads left unconfirmed past
    LEADAPP_OPT_IN_DAYS (without a lead.erased webhook); a line says so when there were any.
    """
    expired = opt_in.expire_unconfirmed()
    if expired:
        window = plural(opt_in.opt_in_days(), "day")
        click.echo(f"Erased {plural(expired, 'lead')} left unconfirmed for {window}.")
    try:
        erased = retention.purge_expired()
    except retention.RetentionNotConfigured as error:
        raise click.ClickException(str(error)) from None
    days = plural(retention.retention_days() or 0, "day")
    click.echo(f"Erased {plural(erased, 'lead')} older than {days}.")
