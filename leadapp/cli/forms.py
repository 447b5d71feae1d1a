"""Forms: `flask --app leadapp forms put|list|show|remove`, as the admin API does them.

Changes are audited under the command line's actor, as `leads export` is; a change made here
reaches running servers within 10 seconds (their form caches).
"""

from __future__ import annotations

import json
from typing import Any, BinaryIO

import click
from flask.cli import AppGroup

from leadapp.cli.tables import echo_table
from leadapp.errors import NotFound, ValidationFailed
from leadapp.jsonutil import StrictJSONError, parse_strict_json
from leadapp.schemas.form import FORM_DOCUMENT_MAX_BYTES, FormSchema
from leadapp.services import forms
from leadapp.services.export import COMMAND_LINE_ACTOR
from leadapp.wording import plural

forms_cli = AppGroup("forms", help="Forms: create or replace, list, show, remove.")
form_schema = FormSchema()
TITLE_COLUMN_CHARS = 30


def _printable(text: str) -> str:
    """`text` on one line: control characters escaped (a member name comes from the file)."""
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def _read_document(source: BinaryIO) -> dict[str, Any]:
    """The file's JSON object, parsed as strictly as PUT /forms/<slug> parses its body."""
    data = source.read(FORM_DOCUMENT_MAX_BYTES + 1)
    if len(data) > FORM_DOCUMENT_MAX_BYTES:
        raise click.ClickException(
            f"The document is larger than {FORM_DOCUMENT_MAX_BYTES // 1024} KiB."
        )
    try:
        value = parse_strict_json(data)
    except StrictJSONError as error:
        raise click.ClickException(f"The document is not strict JSON: {error}") from None
    if not isinstance(value, dict):
        raise click.ClickException("The document must be a JSON object.")
    return value


@forms_cli.command("put")
@click.argument("slug")
@click.option(
    "--file",
    "source",
    required=True,
    type=click.File("rb"),
    help="The form document as JSON; `-` reads stdin.",
)
@click.pass_context
def forms_put(ctx: click.Context, slug: str, source: BinaryIO) -> None:
    """Create or replace the form SLUG from a document; members left out take their defaults.

    A bad document is one line per offending member on stderr and exit status 1; nothing
    is changed then.
    """
    document = _read_document(source)
    try:
        result = forms.put_form(COMMAND_LINE_ACTOR, slug, document)
    except ValidationFailed as error:
        for member, messages in (error.errors or {"document": [error.detail]}).items():
            listed = messages if isinstance(messages, list) else [messages]
            click.echo(f"{_printable(member)}: {_printable(' '.join(map(str, listed)))}", err=True)
        ctx.exit(1)
    verb = "Created" if result.created else "Replaced"
    custom = plural(len(result.document["fields"]), "custom field")
    click.echo(f"{verb} form {slug!r} ({custom}).")


def _uses(form: forms.Form) -> str:
    """Which of mail, double opt-in and the challenge (the one in force) the form uses."""
    uses = []
    if form.notify or form.autoresponder:
        uses.append("mail")
    if form.double_opt_in:
        uses.append("double opt-in")
    if forms.challenge_required(form):
        uses.append("challenge")
    return ", ".join(uses) or "-"


def _cut(text: str, width: int) -> str:
    """`text` in at most `width` characters, an ellipsis marking a cut."""
    return text if len(text) <= width else text[: width - 1] + "…"


@forms_cli.command("list")
def forms_list() -> None:
    """List forms: slug, title, leads, custom fields, and mail, double opt-in, challenge."""
    rows = []
    for document in forms.list_forms():
        form = forms.Form.from_document(
            document["slug"], document, document["created_at"], document["updated_at"]
        )
        title = _cut(_printable(form.title), TITLE_COLUMN_CHARS)
        rows.append((form.slug, title, document["leads"], len(form.fields), _uses(form)))
    columns = [("SLUG", 40), ("TITLE", TITLE_COLUMN_CHARS), ("LEADS", -8), ("FIELDS", -6)]
    echo_table([*columns, ("USES", 0)], rows)


@forms_cli.command("show")
@click.argument("slug")
def forms_show(slug: str) -> None:
    """Print the form's document as JSON (as GET /forms/<slug> answers it)."""
    try:
        document = forms.show_form(slug)
    except NotFound as error:
        raise click.ClickException(error.detail) from None
    click.echo(json.dumps(form_schema.dump(document), indent=2, ensure_ascii=False))


@forms_cli.command("remove")
@click.argument("slug")
def forms_remove(slug: str) -> None:
    """Remove a form, as DELETE /forms/<slug> does: its leads stay; `default` is refused."""
    try:
        forms.remove_form(COMMAND_LINE_ACTOR, slug)
    except (NotFound, forms.FormConflict) as error:
        raise click.ClickException(error.detail) from None
    click.echo(f"Removed form {slug!r}; its leads stay.")
