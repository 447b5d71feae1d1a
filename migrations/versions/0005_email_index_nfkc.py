"""Recompute the email blind index under the NFKC, lower-cased match key.

Emails are now compared in NFKC, lower-cased form (`leadapp.normalize.email_match_key`), so
every stored `email_bidx` is recomputed from the decrypted email, in batches, by the same
code as `flask --app leadapp keys reindex`. The keys come from the app's configuration
(`flask db upgrade` builds the app, so production already refuses to start without them);
nothing is printed but ids. Two stored leads that become equal are reported in the log and
left as they are, the later one on its old index, for the operator to resolve. Leads written
by processes still running the previous code while this runs get the old index: run
`keys reindex` once after every process runs the new code. Offline (`--sql`) this revision
can't decrypt and emits nothing: run `keys reindex` after applying the SQL.

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-01
"""

import logging

from alembic import context, op

revision = "0005"
down_revision = "0002"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
# Not under "alembic": alembic.ini's fileConfig resets those loggers' handlers, and the
# collisions must reach whoever listens (the console through the root logger, or a test).
collision_log = logging.getLogger("leadapp.migrations")


def _reindex(match_key) -> None:
    """Recompute every email_bidx with `match_key`, logging collisions by lead id."""
    if context.is_offline_mode():
        log.warning("0005: offline mode; run `flask --app leadapp keys reindex` afterwards")
        return
    from leadapp.services.reindex import reindex_emails

    result = reindex_emails(connection=op.get_bind(), match_key=match_key)
    log.info("0005: checked %d leads, reindexed %d", result.checked, result.reindexed)
    for lead_id, holder in result.collisions:
        collision_log.warning(
            "0005: lead %s has the same email as lead %s under the new comparison; it keeps"
            " its old index until one of the two is erased",
            lead_id,
            holder,
        )


def upgrade():
    """Index every email by its NFKC, lower-cased form."""
    from leadapp.normalize import email_match_key

    _reindex(email_match_key)


def downgrade():
    """Index every email by its lower-cased form again, as revision 0002's code did."""
    from leadapp.normalize import legacy_email_match_key

    _reindex(legacy_email_match_key)
