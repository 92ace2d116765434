"""The write-behind cache writer against real databases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from app.domain.entities import Reason, Recommendation
from app.infrastructure.db.recommendation_writer import BackgroundRecommendationWriter
from app.infrastructure.db.unit_of_work import SqlAlchemyUnitOfWork
from app.shared.exceptions import StorageUnavailable
from tests.builders import BASE_TIME


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Engine:
    return request.getfixturevalue(f"{request.param}_engine")  # type: ignore[no-any-return]


@pytest.fixture
def writer(engine: Engine) -> Iterator[BackgroundRecommendationWriter]:
    writer = BackgroundRecommendationWriter(lambda: SqlAlchemyUnitOfWork(engine, durable=False))
    yield writer
    writer.close()


def _stored(engine: Engine, user_id: uuid.UUID, version: str) -> list[Recommendation]:
    with SqlAlchemyUnitOfWork(engine) as uow:
        stored = uow.recommendations.fresh_list(user_id, version, BASE_TIME)
        return list(stored.items) if stored else []


def _save(
    writer: BackgroundRecommendationWriter, user_id: uuid.UUID, recs: list[Recommendation], **kw: Any
) -> None:
    writer.save(
        user_id,
        recs,
        model_version=kw.get("version", "v1"),
        generated_at=BASE_TIME,
        expires_at=BASE_TIME + timedelta(hours=1),
    )


def test_saved_lists_are_stored_and_the_newest_per_user_wins(
    engine: Engine, writer: BackgroundRecommendationWriter
) -> None:
    user, other = uuid.uuid4(), uuid.uuid4()
    old = [Recommendation(uuid.uuid4(), 0.9, Reason.TRENDING)]
    new = [Recommendation(uuid.uuid4(), 0.8, Reason.COLLABORATIVE_FILTERING)]
    _save(writer, user, old)
    _save(writer, user, new)
    _save(writer, other, old)
    assert writer.flush()
    assert _stored(engine, user, "v1") == new
    assert _stored(engine, other, "v1") == old


def test_a_failed_write_is_logged_and_the_writer_keeps_going(engine: Engine) -> None:
    failures = [StorageUnavailable("database unavailable")]

    def uow_factory() -> SqlAlchemyUnitOfWork:
        if failures:
            raise failures.pop()
        return SqlAlchemyUnitOfWork(engine)

    writer = BackgroundRecommendationWriter(uow_factory)
    user = uuid.uuid4()
    recs = [Recommendation(uuid.uuid4(), 0.5, Reason.TRENDING)]
    _save(writer, user, recs)
    assert writer.flush()
    _save(writer, user, recs)
    assert writer.flush()
    writer.close()
    assert _stored(engine, user, "v1") == recs


def test_a_full_queue_drops_lists_instead_of_blocking(engine: Engine) -> None:
    writer = BackgroundRecommendationWriter(lambda: SqlAlchemyUnitOfWork(engine), max_pending=1)
    for _ in range(200):
        _save(writer, uuid.uuid4(), [Recommendation(uuid.uuid4(), 0.5, Reason.TRENDING)])
    writer.close()
    assert writer.dropped > 0
