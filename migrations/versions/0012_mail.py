"""Mail (contract v3): the `mails` and `mail_counts` tables, and the leads' double opt-in.

A mail's outbox row (channel `mail`) points at its `mails` row (a notification sent at once
has none); the recipient and a confirmation link's token are Fernet tokens. Only held
notifications are in `ix_mails_held_hour`. The leads gain their opt-in state, the hash of
their newest confirmation token and the confirming address (encrypted); every existing lead
belongs to a form without double opt-in (NULL).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Fernet token lengths (models/types.py) of an email, a token and an IP address.
RECIPIENT_TOKEN_CHARS = 1444
LINK_TOKEN_CHARS = 184
ADDRESS_TOKEN_CHARS = 140
OPT_IN_LEADS = sa.text("SELECT count(*) FROM leads WHERE opt_in_status IS NOT NULL")
MAIL_ROWS = sa.text("SELECT count(*) FROM outbox WHERE channel = 'mail'")


def upgrade():
    """Create the mail tables; add the opt-in columns to `leads`."""
    op.create_table(
        "mails",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("form", sa.String(length=40), nullable=False),
        sa.Column("lead_id", sa.Uuid(), nullable=True),
        sa.Column("lead_ids", sa.Text(), nullable=True),
        sa.Column("recipient", sa.String(length=RECIPIENT_TOKEN_CHARS), nullable=False),
        sa.Column("recipient_bidx", sa.LargeBinary(length=32), nullable=False),
        sa.Column("token", sa.String(length=LINK_TOKEN_CHARS), nullable=True),
        sa.Column("held_hour", sa.DateTime(timezone=True), nullable=True),
        sa.Column("digest_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_mails"),
    )
    op.create_index("ix_mails_lead_id", "mails", ["lead_id"])
    op.create_index(
        "ix_mails_recipient_bidx_kind_created_at",
        "mails",
        ["recipient_bidx", "kind", "created_at"],
    )
    op.create_index(
        "ix_mails_held_hour",
        "mails",
        ["held_hour"],
        postgresql_where=sa.text("held_hour IS NOT NULL"),
        sqlite_where=sa.text("held_hour IS NOT NULL"),
    )
    op.create_table(
        "mail_counts",
        sa.Column("recipient_bidx", sa.LargeBinary(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("recipient_bidx", "kind", "window_start", name="pk_mail_counts"),
    )
    op.add_column("leads", sa.Column("opt_in_status", sa.String(length=16), nullable=True))
    op.add_column(
        "leads", sa.Column("opt_in_confirmed_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("leads", sa.Column("opt_in_token_hash", sa.LargeBinary(length=32)))
    op.add_column("leads", sa.Column("opt_in_sent_at", sa.DateTime(timezone=True)))
    op.add_column("leads", sa.Column("opt_in_address", sa.String(length=ADDRESS_TOKEN_CHARS)))
    op.create_index("ix_leads_opt_in_status_created_at", "leads", ["opt_in_status", "created_at"])
    op.create_index("uq_leads_opt_in_token_hash", "leads", ["opt_in_token_hash"], unique=True)


def downgrade():
    """Drop the mail tables and the opt-in columns; refused while mail or opt-in data exists.

    Below 0012 a pending lead would count as a lead (its webhooks never sent) and queued
    mail would be lost without a word.
    """
    bind = op.get_bind()
    waiting = bind.execute(OPT_IN_LEADS).scalar() + bind.execute(MAIL_ROWS).scalar()
    if waiting:
        raise RuntimeError(
            f"{waiting} leads with double opt-in or queued mails exist; below 0012 they would "
            "lose their opt-in state or never be sent. Erase them first, or stay on 0012."
        )
    op.drop_index("uq_leads_opt_in_token_hash", table_name="leads")
    op.drop_index("ix_leads_opt_in_status_created_at", table_name="leads")
    with op.batch_alter_table("leads") as batch:
        for column in (
            "opt_in_address",
            "opt_in_sent_at",
            "opt_in_token_hash",
            "opt_in_confirmed_at",
            "opt_in_status",
        ):
            batch.drop_column(column)
    op.drop_table("mail_counts")
    op.drop_index("ix_mails_held_hour", table_name="mails")
    op.drop_index("ix_mails_recipient_bidx_kind_created_at", table_name="mails")
    op.drop_index("ix_mails_lead_id", table_name="mails")
    op.drop_table("mails")
