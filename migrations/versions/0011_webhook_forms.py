"""Webhook endpoints subscribed to some forms: `webhook_endpoints.forms`.

NULL (every existing endpoint) means every form, as before; otherwise the slugs of the forms
whose leads the endpoint gets, comma-separated.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-09
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

RESTRICTED = sa.text(
    "SELECT count(*) FROM webhook_endpoints WHERE forms IS NOT NULL AND removed_at IS NULL"
)


def upgrade():
    """Add the nullable `forms` column: every endpoint keeps getting every form's leads."""
    op.add_column("webhook_endpoints", sa.Column("forms", sa.Text(), nullable=True))


def downgrade():
    """Drop `forms`; refused while an active endpoint is limited to some forms.

    Below 0011 such an endpoint would get every form's leads: another client's leads sent to
    a receiver that was never meant to have them. Remove it (or re-add it for every form)
    first.
    """
    restricted = op.get_bind().execute(RESTRICTED).scalar()
    if restricted:
        raise RuntimeError(
            f"{restricted} webhook endpoints get only some forms' leads; below 0011 they would "
            "get every form's. Remove them (`flask webhooks remove`) before downgrading."
        )
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.drop_column("forms")
