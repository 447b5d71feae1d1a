"""Create the leads table.

Personal data columns hold Fernet tokens (String sized for the token, see
leadapp.models.types.fernet_token_length); duplicates are refused by the named
unique constraints on the HMAC blind indexes.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    """Create leads with its unique blind indexes and the pagination index."""
    op.create_table(
        "leads",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=632), nullable=False),
        sa.Column("email", sa.String(length=1444), nullable=False),
        sa.Column("phone", sa.String(length=120), nullable=False),
        sa.Column("ip_address", sa.String(length=140), nullable=True),
        sa.Column("email_bidx", sa.LargeBinary(length=32), nullable=False),
        sa.Column("phone_bidx", sa.LargeBinary(length=32), nullable=False),
        sa.Column("ip_bidx", sa.LargeBinary(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_leads"),
        sa.UniqueConstraint("email_bidx", name="uq_leads_email_bidx"),
        sa.UniqueConstraint("phone_bidx", name="uq_leads_phone_bidx"),
        sa.UniqueConstraint("ip_bidx", name="uq_leads_ip_bidx"),
    )
    op.create_index("ix_leads_created_at_id", "leads", ["created_at", "id"])


def downgrade():
    """Drop leads."""
    op.drop_index("ix_leads_created_at_id", table_name="leads")
    op.drop_table("leads")
