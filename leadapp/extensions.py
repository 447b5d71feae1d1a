"""Flask extensions, created unbound here and bound to an app in the factory."""

from flask import current_app
from flask_limiter import Limiter
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Every constraint gets a predictable name, so migrations are portable and a
# constraint violation can be mapped back to the field it protects.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base shared by every model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
# Where the app keeps the limiter's key function. Flask-Limiter 4 takes the function here,
# before any app exists, and each limit captures it when its view is decorated; the function
# itself is the request pipeline's (http/client.py), set per app with the limiter in
# http/ratelimit.py's bind_limiter, so this module imports nothing above it.
RATE_LIMIT_KEY_EXTENSION = "leadapp.rate_limit_key"
limiter = Limiter(key_func=lambda: current_app.extensions[RATE_LIMIT_KEY_EXTENSION]())
