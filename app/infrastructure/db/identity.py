"""This database's identity: a random UUID stored once in `service_meta`.

A model records the id of the database it was trained on, and a service loads only models
trained on its own database. A copy of the database (a restored dump) keeps the id, and so
keeps the models that fit its data.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Engine, insert, inspect, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from app.infrastructure.db.engine import normalise_url
from app.infrastructure.db.orm import ServiceMetaRow
from app.infrastructure.db.sqlite import translate
from app.shared.exceptions import StorageUnavailable

DATABASE_ID_KEY = "database_id"


def read_database_id(engine: Engine) -> str:
    """The database's id, written (a new UUID) when its row is missing but the table exists.

    Raises StorageUnavailable when the database cannot be reached or its schema predates the
    `service_meta` table (migration 0004).
    """
    try:
        found = _read(engine)
        if found is None:
            try:
                with engine.begin() as conn:
                    conn.execute(insert(ServiceMetaRow).values(key=DATABASE_ID_KEY, value=str(uuid.uuid4())))
            except sa_exc.IntegrityError:
                pass  # another process wrote it first: read theirs
            found = _read(engine)
    except sa_exc.SQLAlchemyError as error:
        raise translate(error) from error
    if found is None:
        raise StorageUnavailable("the database id could not be stored in service_meta")
    return found


def _read(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table(ServiceMetaRow.__tablename__):
            raise StorageUnavailable(
                "the database has no service_meta table (its schema predates migration 0004): "
                "run `uv run ml-service migrate`"
            )
        statement = select(ServiceMetaRow.value).where(ServiceMetaRow.key == DATABASE_ID_KEY)
        value = conn.execute(statement).scalar_one_or_none()
    return str(value) if value is not None else None


def describe_database(database_url: str) -> str:
    """The URL for people: backend, host, port and database name, never a user or password."""
    url = make_url(normalise_url(database_url))
    host = f"{url.host}:{url.port}" if url.host and url.port else (url.host or "")
    return f"{url.get_backend_name()}://{host}/{url.database or ''}"
