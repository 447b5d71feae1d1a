"""Attribution, consent evidence, resubmissions, idempotency keys, used challenges, spam counts.

Campaign-level attribution (source, utm_source, utm_medium, utm_campaign) is plaintext
so statistics can group by it; utm_term, utm_content, page_url and referrer hold Fernet
tokens (String sized by leadapp.models.types.fernet_token_length). Idempotency keys
are stored only as keyed MACs and go with their lead (ON DELETE CASCADE).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
# Brief: "0002"; chained after main's 0005 (the NFKC email index) when main was merged in,
# so the branch has one head. Independent of 0005: it adds columns and tables only.
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    """Create consent_texts, add the v2 lead columns, then the other new tables."""
    op.create_table(
        "consent_texts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("text_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_consent_texts"),
        sa.UniqueConstraint("text_hash", name="uq_consent_texts_text_hash"),
    )
    # Batch mode: SQLite rebuilds the table (before anything references it).
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("source", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("utm_source", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("utm_medium", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("utm_campaign", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("utm_term", sa.String(length=1164), nullable=True))
        batch.add_column(sa.Column("utm_content", sa.String(length=1164), nullable=True))
        batch.add_column(sa.Column("page_url", sa.String(length=11020), nullable=True))
        batch.add_column(sa.Column("referrer", sa.String(length=11020), nullable=True))
        batch.add_column(sa.Column("consent_given_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("consent_text_id", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("resubmissions", sa.Integer(), server_default="0", nullable=False)
        )
        batch.add_column(
            sa.Column("last_resubmitted_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch.create_foreign_key(
            "fk_leads_consent_text_id_consent_texts",
            "consent_texts",
            ["consent_text_id"],
            ["id"],
        )
        batch.create_index(
            "ix_leads_created_at_source_utm_source", ["created_at", "source", "utm_source"]
        )
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
    op.create_table(
        "spam_counts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint("kind IN ('honeypot', 'challenge')", name="ck_spam_counts_kind"),
        sa.PrimaryKeyConstraint("day", "kind", name="pk_spam_counts"),
    )
    op.create_table(
        "used_challenges",
        sa.Column("challenge", sa.LargeBinary(length=32), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("challenge", name="pk_used_challenges"),
    )
    op.create_index("ix_used_challenges_expires_at", "used_challenges", ["expires_at"])


def downgrade():
    """Drop the new tables and lead columns."""
    op.drop_index("ix_used_challenges_expires_at", table_name="used_challenges")
    op.drop_table("used_challenges")
    op.drop_table("spam_counts")
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
    op.drop_index("ix_idempotency_keys_lead_id", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("leads") as batch:
        batch.drop_index("ix_leads_created_at_source_utm_source")
        batch.drop_constraint("fk_leads_consent_text_id_consent_texts", type_="foreignkey")
        for column in (
            "last_resubmitted_at",
            "resubmissions",
            "consent_text_id",
            "consent_given_at",
            "referrer",
            "utm_content",
            "utm_term",
            "page_url",
            "utm_campaign",
            "utm_medium",
            "utm_source",
            "source",
        ):
            batch.drop_column(column)
    op.drop_table("consent_texts")
