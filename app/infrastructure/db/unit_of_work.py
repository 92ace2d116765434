"""The SQLAlchemy unit of work: one session and transaction per use-case call."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from app.infrastructure.db.repositories import (
    SqlAlchemyInteractionRepository,
    SqlAlchemyPostRepository,
    SqlAlchemyRecommendationRepository,
    SqlAlchemyUserRepository,
)
from app.shared.exceptions import InvalidInput, StorageUnavailable


def translate(error: sa_exc.SQLAlchemyError) -> Exception:
    """Driver errors become our own types at the boundary, so callers catch one thing."""
    # IntegrityError and DataError are the client's data (a broken reference, a value the
    # database cannot store); everything else means the database is not serving.
    if isinstance(error, sa_exc.IntegrityError | sa_exc.DataError):
        return InvalidInput(f"the database refused the data: {str(error.orig).strip()}")
    return StorageUnavailable(f"database unavailable: {type(error).__name__}: {str(error).splitlines()[0]}")


class SqlAlchemyUnitOfWork:
    def __init__(self, session_factory: sessionmaker[Session], *, durable: bool = True) -> None:
        """`durable=False` lets PostgreSQL acknowledge a commit before its WAL reaches disk:
        only for data that may be lost in a database crash (caches), never for the log."""
        self._session_factory = session_factory
        self._durable = durable
        self._session: Session | None = None

    def __enter__(self) -> Self:
        session = self._session_factory()
        if not self._durable and session.get_bind().dialect.name == "postgresql":
            session.execute(text("SET LOCAL synchronous_commit TO OFF"))
        self._session = session
        self.users = SqlAlchemyUserRepository(session)
        self.posts = SqlAlchemyPostRepository(session)
        self.interactions = SqlAlchemyInteractionRepository(session)
        self.recommendations = SqlAlchemyRecommendationRepository(session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self._session
        self._session = None
        if session is None:
            return
        try:
            session.rollback()
        except sa_exc.SQLAlchemyError:
            pass  # the connection is already gone; closing below returns it to the pool
        finally:
            session.close()
        if isinstance(exc, sa_exc.SQLAlchemyError):
            raise translate(exc) from exc

    def commit(self) -> None:
        assert self._session is not None, "commit() outside the unit of work's with-block"
        try:
            self._session.commit()
        except sa_exc.SQLAlchemyError as error:
            raise translate(error) from error

    def rollback(self) -> None:
        if self._session is not None:
            self._session.rollback()
