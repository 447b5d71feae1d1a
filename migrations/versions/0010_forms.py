"""Forms: the `forms` table with the `default` form, and the leads' form, custom values, IP rule.

Every existing lead joins `default` and keeps the seed's one-lead-per-IP rule (`ip_unique`
true). The IP's unique constraint becomes a partial unique index over the leads whose form
keeps that rule, under the same name, so the database still decides under any race.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08
"""

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

HAS_KEY = sa.text("idempotency_key_hash IS NOT NULL")
IP_IS_UNIQUE = sa.text("ip_unique")
# The default form's document as the v2 service behaved: the site-wide settings in force.
DEFAULT_DOCUMENT = {
    "title": "default",
    "origins": [],
    "consent_text": None,
    "challenge": False,
    "success_url": None,
    "labels": {},
    "fields": [],
    "notify": [],
    "autoresponder": None,
    "double_opt_in": False,
    "one_lead_per_ip": True,
}
FORMS = sa.table(
    "forms",
    sa.column("slug", sa.String()),
    sa.column("document", sa.Text()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
# Fernet tokens of a JSON object of custom values from a 16 KiB body (models/lead.py).
CUSTOM_FIELDS_TOKEN_CHARS = 43_788
NOT_V2_LEADS = sa.text(
    "SELECT count(*) FROM leads "
    "WHERE form <> 'default' OR custom_fields IS NOT NULL OR NOT ip_unique"
)


def _rebuild_leads_on_sqlite(change) -> None:
    """Run a batch change of `leads` on SQLite with the partial index kept out of the way.

    Safe with foreign_keys on: no table refers to `leads` (decision 0010), so dropping the
    old copy cascades nowhere.
    """
    op.drop_index("uq_leads_idempotency_key_hash", table_name="leads")
    with op.batch_alter_table("leads") as batch:
        change(batch)
    op.create_index(
        "uq_leads_idempotency_key_hash",
        "leads",
        ["idempotency_key_hash"],
        unique=True,
        sqlite_where=HAS_KEY,
        postgresql_where=HAS_KEY,
    )


def upgrade():
    """Create `forms` with `default`, add the three lead columns, make the IP rule partial."""
    op.create_table(
        "forms",
        sa.Column("slug", sa.String(length=40), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("slug", name="pk_forms"),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        FORMS,
        [
            {
                "slug": "default",
                "document": json.dumps(DEFAULT_DOCUMENT),
                "created_at": now,
                "updated_at": now,
            }
        ],
    )
    # ADD COLUMN with server defaults: every existing lead is in `default` and keeps the rule.
    op.add_column(
        "leads",
        sa.Column("form", sa.String(length=40), server_default="default", nullable=False),
    )
    op.add_column("leads", sa.Column("custom_fields", sa.String(length=CUSTOM_FIELDS_TOKEN_CHARS)))
    op.add_column(
        "leads",
        sa.Column("ip_unique", sa.Boolean(), server_default=sa.true(), nullable=False),
    )
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_leads_on_sqlite(lambda batch: batch.drop_constraint("uq_leads_ip_bidx"))
    else:
        op.drop_constraint("uq_leads_ip_bidx", "leads", type_="unique")
    op.create_index(
        "uq_leads_ip_bidx",
        "leads",
        ["ip_bidx"],
        unique=True,
        sqlite_where=IP_IS_UNIQUE,
        postgresql_where=IP_IS_UNIQUE,
    )
    op.create_index("ix_leads_form_created_at_id", "leads", ["form", "created_at", "id"])


def downgrade():
    """Back to one form and a plain unique IP; refused while a lead needs what v3 added.

    The older code knows no forms: a lead of another form, with custom values, or exempt
    from the IP rule would lose what makes it so (and two leads may share an IP).
    """
    others = op.get_bind().execute(NOT_V2_LEADS).scalar()
    if others:
        raise RuntimeError(
            f"{others} leads belong to a form other than `default`, carry custom values or "
            "are exempt from one-lead-per-IP; a downgrade below 0010 would lose that. Erase "
            "them (or export them first) before downgrading."
        )
    op.drop_index("ix_leads_form_created_at_id", table_name="leads")
    op.drop_index("uq_leads_ip_bidx", table_name="leads")

    def back(batch) -> None:
        batch.drop_column("ip_unique")
        batch.drop_column("custom_fields")
        batch.drop_column("form")
        batch.create_unique_constraint("uq_leads_ip_bidx", ["ip_bidx"])

    if op.get_bind().dialect.name == "sqlite":
        _rebuild_leads_on_sqlite(back)
    else:
        op.drop_column("leads", "ip_unique")
        op.drop_column("leads", "custom_fields")
        op.drop_column("leads", "form")
        op.create_unique_constraint("uq_leads_ip_bidx", "leads", ["ip_bidx"])
    op.drop_table("forms")
