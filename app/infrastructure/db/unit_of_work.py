"""The SQLAlchemy unit of work: one connection and transaction per use-case call."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine, Transaction, text
from sqlalchemy import exc as sa_exc

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
    def __init__(self, bind: Engine | Connection, *, durable: bool = True) -> None:
        """`bind` is an engine (a pooled connection per unit of work) or, in tests, a connection
        whose outer transaction each unit of work nests a savepoint in.

        `durable=False` lets PostgreSQL acknowledge a commit before its WAL reaches disk:
        only for data that may be lost in a database crash (caches), never for the log."""
        self._bind = bind
        self._durable = durable
        self._conn: Connection | None = None
        self._transaction: Transaction | None = None

    def __enter__(self) -> Self:
        try:
            conn = self._bind if isinstance(self._bind, Connection) else self._bind.connect()
        except sa_exc.SQLAlchemyError as error:
            raise translate(error) from error
        try:
            self._transaction = self._begin(conn)
            if not self._durable and conn.dialect.name == "postgresql":
                conn.execute(text("SET LOCAL synchronous_commit TO OFF"))
        except sa_exc.SQLAlchemyError as error:
            if conn is not self._bind:
                conn.close()  # back to the pool, not left for the garbage collector
            self._transaction = None
            raise translate(error) from error
        self._conn = conn
        self.users = SqlAlchemyUserRepository(conn)
        self.posts = SqlAlchemyPostRepository(conn)
        self.interactions = SqlAlchemyInteractionRepository(conn)
        self.recommendations = SqlAlchemyRecommendationRepository(conn)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, transaction = self._conn, self._transaction
        self._conn = self._transaction = None
        if conn is None:
            return
        try:
            if transaction is not None and transaction.is_active:
                transaction.rollback()
        except sa_exc.SQLAlchemyError:
            pass  # the connection is already gone; closing below returns it to the pool
        finally:
            if conn is not self._bind:
                conn.close()
        if isinstance(exc, sa_exc.SQLAlchemyError):
            raise translate(exc) from exc

    def _begin(self, conn: Connection) -> Transaction:
        return conn.begin_nested() if conn is self._bind else conn.begin()

    def commit(self) -> None:
        """Commits the unit of work: its last step (what follows is rolled back on exit)."""
        assert self._transaction is not None, "commit() outside the unit of work's with-block"
        try:
            self._transaction.commit()
        except sa_exc.SQLAlchemyError as error:
            raise translate(error) from error

    def rollback(self) -> None:
        if self._transaction is not None and self._transaction.is_active:
            self._transaction.rollback()
