"""Scrolling with a cursor, catalogue sync and erasure, over HTTP on both backends."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.e2e.conftest import Deployment, Population
from tests.e2e.server import poll_until

LIMIT = 5


def generate(client: httpx.Client, user: uuid.UUID, **body: Any) -> dict[str, Any]:
    response = client.post("/recommendations/generate", json={"user_id": str(user), **body})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def shown(page: dict[str, Any]) -> list[str]:
    return [r["post_id"] for r in page["recommendations"]]


def track_views(client: httpx.Client, user: uuid.UUID, posts: list[str]) -> None:
    batch = [{"user_id": str(user), "post_id": p, "interaction_type": "view"} for p in posts]
    response = client.post("/interactions/track", json={"interactions": batch})
    assert response.status_code == 202
    assert response.json()["accepted"] == len(posts)


def served_list(deployment: Deployment, list_id: str) -> list[str]:
    """The served list as stored for cursors, post ids in rank order."""
    key = uuid.UUID(list_id)
    param: Any = key.hex if deployment.backend == "sqlite" else key

    def read() -> list[Any] | None:
        return deployment.query("SELECT post_ids FROM served_list WHERE id = :id", id=param) or None

    rows = poll_until(read, timeout=10, message="the served list stored")
    return [str(uuid.UUID(p)) for p in rows[0][0].split(",")]


def test_five_pages_with_a_cursor_while_every_post_shown_is_viewed(
    client: httpx.Client, population: Population, deployment: Deployment
) -> None:
    user = population.take(precomputed=True)
    pages = [generate(client, user, limit=LIMIT)]
    for _ in range(4):
        track_views(client, user, shown(pages[-1]))
        pages.append(generate(client, user, limit=LIMIT, cursor=pages[-1]["metadata"]["next_cursor"]))
    posts = [p for page in pages for p in shown(page)]
    assert len(posts) == len(set(posts)) == 5 * LIMIT
    assert {page["metadata"]["recommendation_id"] for page in pages} == {
        pages[0]["metadata"]["recommendation_id"]
    }
    assert not any(page["metadata"]["cursor_expired"] for page in pages)
    listed = served_list(deployment, pages[0]["metadata"]["recommendation_id"])
    assert posts == [p for p in listed if p not in population.seen[user]][: 5 * LIMIT]


def test_an_unknown_cursor_starts_a_new_list_and_says_so(
    client: httpx.Client, population: Population
) -> None:
    user = population.take()
    first = generate(client, user, limit=LIMIT)
    other = generate(client, population.take(), limit=LIMIT)
    # Another user's cursor is as good as unknown.
    restarted = generate(client, user, limit=LIMIT, cursor=other["metadata"]["next_cursor"])
    assert restarted["metadata"]["cursor_expired"] is True
    assert shown(restarted) == shown(first)
    bad = client.post("/recommendations/generate", json={"user_id": str(user), "cursor": "not-a-cursor!"})
    assert bad.status_code == 422
    assert "body.cursor" in [problem["field"] for problem in bad.json()["detail"]]


def test_a_post_upserted_reaches_feeds_and_once_deleted_never_shows_again(
    client: httpx.Client, population: Population, deployment: Deployment
) -> None:
    post_id, author = uuid.uuid4(), uuid.uuid4()
    body = {"author_id": str(author), "content": "a post written just now", "topic": "news"}
    created = client.put(f"/posts/{post_id}", json=body)
    assert created.status_code == 201
    assert created.json() == {"id": str(post_id), "created": True}
    assert client.put(f"/posts/{post_id}", json={**body, "content": "edited"}).status_code == 200
    # A user with no history gets trending posts: one like makes the new post trend.
    fan = population.take()
    liked = client.post(
        "/interactions/track",
        json={"user_id": str(fan), "post_id": str(post_id), "interaction_type": "share"},
    )
    assert liked.status_code == 202
    newcomer = uuid.uuid4()

    def reached() -> bool | None:
        return True if str(post_id) in shown(generate(client, newcomer, limit=100)) else None

    poll_until(reached, timeout=45, interval=1, message="the new post in a feed")
    stored_user = population.take(precomputed=True)
    first = generate(client, stored_user, limit=LIMIT)
    victim = next(p for p in shown(first)[1:] if not population.shared_post(p))
    assert client.delete(f"/posts/{post_id}").status_code == 204
    assert client.delete(f"/posts/{victim}").status_code == 204
    assert client.delete(f"/posts/{victim}").status_code == 204  # a retried deletion succeeds
    again = generate(client, stored_user, limit=LIMIT)
    assert victim not in shown(again)
    assert again["metadata"]["source"] == "precomputed"
    following = generate(client, stored_user, limit=100, cursor=first["metadata"]["next_cursor"])
    assert victim not in shown(following)
    assert str(post_id) not in shown(generate(client, uuid.uuid4(), limit=100))
    assert deployment.query(
        "SELECT count(*) FROM user_interaction WHERE post_id = :p", p=_key(deployment, post_id)
    ) == [(0,)]


def test_an_erased_user_leaves_no_row_in_any_table(
    client: httpx.Client, population: Population, deployment: Deployment
) -> None:
    user = population.take(precomputed=True, author=True)
    assert generate(client, user, limit=LIMIT)["metadata"]["next_cursor"]
    renamed = client.put(f"/users/{user}", json={"username": f"erased-{user.hex[:8]}", "display_name": "E"})
    assert renamed.status_code == 200
    assert client.delete(f"/users/{user}").status_code == 204
    key = _key(deployment, user)
    for table, column in [
        ("users", "id"),
        ("posts", "author_id"),
        ("user_interaction", "user_id"),
        ("user_recommendation", "user_id"),
        ("served_list", "user_id"),
    ]:
        rows = deployment.query(f"SELECT count(*) FROM {table} WHERE {column} = :key", key=key)
        assert rows == [(0,)], table
    for post in population.authored[user]:
        rows = deployment.query(
            "SELECT count(*) FROM user_interaction WHERE post_id = :p", p=_key(deployment, post)
        )
        assert rows == [(0,)]
    assert generate(client, user, limit=LIMIT)["metadata"]["source"] == "cold_start"


def test_a_taken_username_is_a_conflict_and_a_new_user_is_created(client: httpx.Client) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    name = f"user-{uuid.uuid4().hex[:12]}"
    when = datetime.now(UTC).isoformat()
    assert client.put(f"/users/{first}", json={"username": name, "created_at": when}).status_code == 201
    conflict = client.put(f"/users/{second}", json={"username": name})
    assert conflict.status_code == 409
    assert conflict.json()["error"] == "conflict"


def test_a_bulk_upsert_stores_the_good_posts_and_reports_the_bad_ones(client: httpx.Client) -> None:
    author = uuid.uuid4()
    good = [{"id": str(uuid.uuid4()), "author_id": str(author), "content": f"post {i}"} for i in range(3)]
    batch = [good[0], {"id": "nope", "author_id": str(author), "content": "x"}, "garbage", *good[1:]]
    response = client.put("/posts", json={"posts": batch})
    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["created"]) == (3, 3)
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [(1, "id"), (2, None)]


def test_a_single_interaction_that_stores_nothing_is_a_4xx_naming_why(
    client: httpx.Client, population: Population
) -> None:
    user = population.take()
    response = client.post(
        "/interactions/track",
        json={"user_id": str(user), "post_id": str(uuid.uuid4()), "interaction_type": "view"},
    )
    assert response.status_code == 404
    assert "unknown post" in str(response.json()["detail"])


def interactions_with(deployment: Deployment, post: uuid.UUID) -> int:
    rows = deployment.query(
        "SELECT count(*) FROM user_interaction WHERE post_id = :p", p=_key(deployment, post)
    )
    return int(rows[0][0])


def _key(deployment: Deployment, value: uuid.UUID) -> Any:
    """How a UUID parameter matches the column: 32 hex digits on SQLite, a uuid on PostgreSQL."""
    return value.hex if deployment.backend == "sqlite" else value
