from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from app.application.dto import HealthState
from app.application.ports import DatabaseProbe
from app.application.use_cases.health import CheckHealth
from app.domain import ranking
from app.domain.entities import PostEngagement, Reason, Recommendation
from app.shared.exceptions import StorageUnavailable
from tests.fakes import FakeModelProvider, FakeRecommender, FixedClock


async def _ok() -> None:
    return None


async def _down() -> None:
    raise StorageUnavailable("connection refused")


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("probe", "model", "expected"),
    [
        (_ok, FakeRecommender({}), HealthState.HEALTHY),
        (_ok, None, HealthState.DEGRADED),
        (_down, FakeRecommender({}), HealthState.UNHEALTHY),
    ],
)
async def test_health_reflects_database_and_model(
    probe: DatabaseProbe, model: FakeRecommender | None, expected: HealthState
) -> None:
    report = await CheckHealth(probe, FakeModelProvider(model, last_error=None), FixedClock()).execute()
    assert report.status is expected
    assert report.model_loaded is (model is not None)
    assert report.database_ok is (probe is _ok)
    assert report.database_error == (None if probe is _ok else "connection refused")


def test_trending_prefers_recent_engagement_and_scales_scores_into_unit_range() -> None:
    now = FixedClock().now()
    old_hit = PostEngagement(uuid.uuid4(), uuid.uuid4(), now - timedelta(days=2), 100.0)
    fresh = PostEngagement(uuid.uuid4(), uuid.uuid4(), now - timedelta(hours=1), 20.0)
    silent = PostEngagement(uuid.uuid4(), uuid.uuid4(), now, 0.0)
    ranked = ranking.trending([old_hit, fresh, silent], now, limit=10)
    assert [r.post_id for r in ranked] == [fresh.post_id, old_hit.post_id]
    assert ranked[0].score == 1.0
    assert 0 < ranked[1].score < 1
    assert {r.reason for r in ranked} == {Reason.TRENDING}


def test_a_score_outside_the_unit_range_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        Recommendation(uuid.uuid4(), 1.5, Reason.TRENDING)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        Recommendation(uuid.uuid4(), float("nan"), Reason.TRENDING)
