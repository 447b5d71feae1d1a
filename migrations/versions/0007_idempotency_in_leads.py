"""Idempotency keys move into the row of the lead they created.

The separate idempotency_keys table cost every keyed POST /leads a second INSERT into four
B-trees; two nullable columns of the lead, under a partial unique index, cost one entry.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

HAS_KEY = sa.text("idempotency_key_hash IS NOT NULL")


LEADS = sa.table(
    "leads",
    sa.column("id", sa.Uuid()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("idempotency_key_hash", sa.LargeBinary()),
    sa.column("idempotency_body_hash", sa.LargeBinary()),
)
RECORDS = sa.table(
    "idempotency_keys",
    sa.column("lead_id", sa.Uuid()),
    sa.column("key_hash", sa.LargeBinary()),
    sa.column("body_hash", sa.LargeBinary()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def _newest_of_lead(column: str) -> sa.ScalarSelect:
    """The newest idempotency record's `column` for the lead being updated."""
    return (
        sa.select(RECORDS.c[column])
        .where(RECORDS.c.lead_id == LEADS.c.id)
        .order_by(RECORDS.c.created_at.desc())
        .limit(1)
        .scalar_subquery()
    )


def upgrade():
    """Add the two MAC columns and their partial unique index; move the records; drop the table."""
    # ADD COLUMN, not a batch: SQLite's batch recreates the table, and dropping the old
    # `leads` would cascade into idempotency_keys (foreign_keys is on) before the copy.
    op.add_column("leads", sa.Column("idempotency_key_hash", sa.LargeBinary(length=32)))
    op.add_column("leads", sa.Column("idempotency_body_hash", sa.LargeBinary(length=32)))
    op.execute(
        sa.update(LEADS)
        .where(LEADS.c.id.in_(sa.select(RECORDS.c.lead_id)))
        .values(
            idempotency_key_hash=_newest_of_lead("key_hash"),
            idempotency_body_hash=_newest_of_lead("body_hash"),
        )
    )
    op.create_index(
        "uq_leads_idempotency_key_hash",
        "leads",
        ["idempotency_key_hash"],
        unique=True,
        sqlite_where=HAS_KEY,
        postgresql_where=HAS_KEY,
    )
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
    op.drop_index("ix_idempotency_keys_lead_id", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")


def downgrade():
    """Recreate idempotency_keys from the lead columns, then drop them.

    The records are read first and written last: on SQLite, dropping the columns recreates
    `leads`, and dropping the old table would cascade into an idempotency_keys filled before.
    """
    connection = op.get_bind()
    records = [
        {
            "key_hash": row.key_hash,
            "body_hash": row.body_hash,
            "lead_id": row.id,
            "created_at": row.created_at,
        }
        for row in connection.execute(
            sa.select(
                LEADS.c.id,
                LEADS.c.idempotency_key_hash.label("key_hash"),
                LEADS.c.idempotency_body_hash.label("body_hash"),
                LEADS.c.created_at,
            ).where(LEADS.c.idempotency_key_hash.is_not(None))
        )
    ]
    op.drop_index("uq_leads_idempotency_key_hash", table_name="leads")
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("idempotency_body_hash")
        batch.drop_column("idempotency_key_hash")
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("body_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("lead_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
            name="fk_idempotency_keys_lead_id_leads",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_idempotency_keys"),
        sa.UniqueConstraint("key_hash", name="uq_idempotency_keys_key_hash"),
    )
    op.create_index("ix_idempotency_keys_lead_id", "idempotency_keys", ["lead_id"])
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])
    if records:
        op.bulk_insert(RECORDS, records)
