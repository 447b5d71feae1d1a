"""Webhook deliveries no longer carry a copy of the lead: drop webhook_deliveries.payload.

The worker builds each body when it claims the delivery, from the lead's own row, so the
encrypted copy written at intake is no longer read. A pending delivery queued before this
revision is sent with the same bytes its payload held (same timestamp, the lead as created).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# The Fernet token length of a 32 KiB payload, as revision 0004 created the column.
PAYLOAD_TOKEN = 43788


def upgrade():
    """Drop webhook_deliveries.payload (batch mode: SQLite rebuilds the table)."""
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("payload")


PENDING = sa.text("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")


def downgrade():
    """Add the column back, empty; refused while any delivery is pending.

    The older code reads an empty payload as "nothing left to send": it would cancel a
    pending delivery instead of sending it, so the queue must be drained first rather than
    lose them. Failed deliveries stay listed, but the older code can no longer retry them.
    """
    pending = op.get_bind().execute(PENDING).scalar()
    if pending:
        raise RuntimeError(
            f"{pending} webhook deliveries are pending; a downgrade below 0008 would cancel "
            "them unsent. Let the workers deliver them before downgrading."
        )
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.add_column(sa.Column("payload", sa.String(length=PAYLOAD_TOKEN), nullable=True))
