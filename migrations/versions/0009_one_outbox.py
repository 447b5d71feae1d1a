"""One outbox for every channel: webhook_deliveries becomes `outbox`, with a channel column.

Each row names its channel (`webhook` for every existing one) and its target (the endpoint's
id, in `target_id`, without a foreign key: the outbox knows no channel's tables; removing an
endpoint cancels its rows explicitly, as it always did). The rows are copied as they are,
pending ones and their claims included, so nothing queued is lost or sent twice.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Every column both tables share, in one order, in the two copies below.
INTO_OUTBOX = """
INSERT INTO outbox (channel, target_id, id, event, lead_id, status, attempts, next_attempt_at,
                    claimed_by, claimed_until, last_status, last_error, last_attempt_at,
                    delivered_at, created_at)
SELECT 'webhook', endpoint_id, id, event, lead_id, status, attempts, next_attempt_at,
       claimed_by, claimed_until, last_status, last_error, last_attempt_at,
       delivered_at, created_at
FROM webhook_deliveries
"""
BACK_TO_DELIVERIES = """
INSERT INTO webhook_deliveries (endpoint_id, id, event, lead_id, status, attempts,
                                next_attempt_at, claimed_by, claimed_until, last_status,
                                last_error, last_attempt_at, delivered_at, created_at)
SELECT target_id, id, event, lead_id, status, attempts, next_attempt_at, claimed_by,
       claimed_until, last_status, last_error, last_attempt_at, delivered_at, created_at
FROM outbox
"""


def _state_columns() -> list[sa.Column]:
    """The columns of a message's state and claim, as revisions 0004 and 0008 left them."""
    return [
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("lead_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade():
    """Create `outbox`, copy every delivery into it as a `webhook` message, drop the old table."""
    op.create_table(
        "outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.Uuid(), nullable=True),
        *_state_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
    )
    op.execute(INTO_OUTBOX)
    op.create_index("ix_outbox_status_next_attempt_at", "outbox", ["status", "next_attempt_at"])
    op.create_index("ix_outbox_lead_id", "outbox", ["lead_id"])
    op.create_index("ix_outbox_channel_target_id", "outbox", ["channel", "target_id"])
    op.create_index("ix_outbox_created_at", "outbox", ["created_at"])
    for name in ("created_at", "endpoint_id", "lead_id", "status_next_attempt_at"):
        op.drop_index(f"ix_webhook_deliveries_{name}", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")


OTHER_CHANNELS = sa.text("SELECT count(*) FROM outbox WHERE channel <> 'webhook'")


def downgrade():
    """Put the webhook messages back into webhook_deliveries; refused while other channels' exist.

    The older code knows webhooks only: any other channel's message would be lost, so those
    must be delivered (and the rows deleted) or the channel's feature turned off first.
    """
    others = op.get_bind().execute(OTHER_CHANNELS).scalar()
    if others:
        raise RuntimeError(
            f"{others} outbox messages belong to channels other than webhooks; a downgrade "
            "below 0009 would lose them. Deliver or delete them before downgrading."
        )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("endpoint_id", sa.Uuid(), nullable=False),
        *_state_columns(),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name="fk_webhook_deliveries_endpoint_id_webhook_endpoints",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
    )
    op.execute(BACK_TO_DELIVERIES)
    op.create_index(
        "ix_webhook_deliveries_status_next_attempt_at",
        "webhook_deliveries",
        ["status", "next_attempt_at"],
    )
    op.create_index("ix_webhook_deliveries_lead_id", "webhook_deliveries", ["lead_id"])
    op.create_index("ix_webhook_deliveries_endpoint_id", "webhook_deliveries", ["endpoint_id"])
    op.create_index("ix_webhook_deliveries_created_at", "webhook_deliveries", ["created_at"])
    for name in ("created_at", "channel_target_id", "lead_id", "status_next_attempt_at"):
        op.drop_index(f"ix_outbox_{name}", table_name="outbox")
    op.drop_table("outbox")
