"""Migrations as a user runs them: upgrade, agree with the models, downgrade."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from leadapp import create_app
from leadapp.extensions import db


@pytest.fixture
def migrated_app(database_url: str):
    """An app whose database was built by the migrations, not by create_all."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            downgrade(revision="base")
        upgrade()
    yield app
    with app.app_context():
        upgrade()
        db.engine.dispose()


def test_models_and_migrations_agree(migrated_app) -> None:
    with migrated_app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []


def test_unique_constraints_are_named(migrated_app) -> None:
    with migrated_app.app_context():
        names = {uc["name"] for uc in inspect(db.engine).get_unique_constraints("leads")}
    assert {"uq_leads_email_bidx", "uq_leads_phone_bidx", "uq_leads_ip_bidx"} <= names


def test_downgrade_to_base_and_back(migrated_app) -> None:
    with migrated_app.app_context():
        downgrade(revision="base")
        assert "leads" not in inspect(db.engine).get_table_names()
        upgrade()
        assert "leads" in inspect(db.engine).get_table_names()
        with db.engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM leads")).scalar() == 0
