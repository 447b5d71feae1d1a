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


def downgrade():
    """Add the column back, empty.

    The older code reads an empty payload as "nothing left to send": deliveries still
    pending at the downgrade are cancelled by its worker, not sent, and failed ones can no
    longer be retried.
    """
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.add_column(sa.Column("payload", sa.String(length=PAYLOAD_TOKEN), nullable=True))
