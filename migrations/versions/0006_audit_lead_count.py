"""Audit events of exports and purges carry how many leads they covered; erasures are indexed.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    """Add audit_events.lead_count (null for events that list their lead ids), and the
    (action, id) index the statistics use to find the newest erasure."""
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("lead_count", sa.Integer(), nullable=True))
    op.create_index("ix_audit_events_action_id", "audit_events", ["action", "id"])


def downgrade():
    """Drop the index and audit_events.lead_count."""
    op.drop_index("ix_audit_events_action_id", table_name="audit_events")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("lead_count")
