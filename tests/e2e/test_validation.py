"""Bad input gets a 4xx JSON {"error", "detail", "request_id"} naming the field; nothing valid in the
request is lost."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import Deployment, Population

pytestmark = pytest.mark.e2e

SOME_USER = str(uuid.uuid4())
SOME_POST = str(uuid.uuid4())
ONE = {"user_id": SOME_USER, "post_id": SOME_POST, "interaction_type": "view"}


@dataclass(frozen=True)
class BadRequest:
    method: str
    path: str
    field: str
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] | None = None
    params: dict[str, Any] | None = None


GENERATE = "/recommendations/generate"
TRACK = "/interactions/track"
CASES = {
    "a user id that is not a UUID": BadRequest("POST", GENERATE, "body.user_id", {"user_id": "nope"}),
    "a path user id that is not a UUID": BadRequest("GET", "/recommendations/not-a-uuid", "path.user_id"),
    "limit 0": BadRequest("POST", GENERATE, "body.limit", {"user_id": SOME_USER, "limit": 0}),
    "limit 101": BadRequest("POST", GENERATE, "body.limit", {"user_id": SOME_USER, "limit": 101}),
    "a query limit of 0": BadRequest(
        "GET", f"/recommendations/{SOME_USER}", "query.limit", params={"limit": 0}
    ),
    "a query limit of 101": BadRequest(
        "GET", f"/recommendations/{SOME_USER}", "query.limit", params={"limit": 101}
    ),
    "a negative offset": BadRequest("POST", GENERATE, "body.offset", {"user_id": SOME_USER, "offset": -1}),
    "a negative query offset": BadRequest(
        "GET", f"/recommendations/{SOME_USER}", "query.offset", params={"offset": -1}
    ),
    "more than 500 excluded posts": BadRequest(
        "POST",
        GENERATE,
        "body.context.exclude_post_ids",
        {"user_id": SOME_USER, "context": {"exclude_post_ids": [str(uuid.uuid4()) for _ in range(501)]}},
    ),
    "an extra field in generate": BadRequest(
        "POST", GENERATE, "body.surprise", {"user_id": SOME_USER, "surprise": 1}
    ),
    "malformed JSON": BadRequest(
        "POST", GENERATE, "body", content=b'{"user_id": ', headers={"content-type": "application/json"}
    ),
    "a typo inside context": BadRequest(
        "POST",
        GENERATE,
        "body.context.excludeSeen",
        {"user_id": SOME_USER, "context": {"exclude_post_id": [], "excludeSeen": False}},
    ),
    "a missing user id": BadRequest("POST", GENERATE, "body.user_id", {"limit": 5}),
    "an unknown interaction type": BadRequest(
        "POST", TRACK, "body.interaction_type", {**ONE, "interaction_type": "poke"}
    ),
    "an extra field in an interaction": BadRequest("POST", TRACK, "body.surprise", {**ONE, "surprise": True}),
    "an extra field next to a batch": BadRequest(
        "POST", TRACK, "body.surprise", {"interactions": [ONE], "surprise": 1}
    ),
    "an empty batch": BadRequest("POST", TRACK, "body.interactions", {"interactions": []}),
    "a batch of 501": BadRequest("POST", TRACK, "body.interactions", {"interactions": [ONE] * 501}),
    "a tracked post id that is not a UUID": BadRequest(
        "POST", TRACK, "body.post_id", {**ONE, "post_id": "p1"}
    ),
    "malformed JSON to track": BadRequest(
        "POST", TRACK, "body", content=b"[{,", headers={"content-type": "application/json"}
    ),
    "a tracked time given as a number": BadRequest(
        "POST", TRACK, "body.created_at", {**ONE, "created_at": 3984}
    ),
    "a post's time given as a number": BadRequest(
        "PUT",
        f"/posts/{uuid.uuid4()}",
        "body.created_at",
        {"author_id": SOME_USER, "content": "x", "created_at": 3984},
    ),
    "a user's time given as a number": BadRequest(
        "PUT", f"/users/{uuid.uuid4()}", "body.created_at", {"username": "someone", "created_at": 1.5}
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_input_is_a_4xx_json_error_naming_the_field(client: httpx.Client, case: BadRequest) -> None:
    response = client.request(
        case.method, case.path, json=case.json, content=case.content, headers=case.headers, params=case.params
    )

    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "detail", "request_id"}
    assert body["request_id"] == response.headers["x-request-id"]
    assert body["error"] == "validation_error"
    fields = [problem["field"] for problem in body["detail"]]
    assert case.field in fields, body


def test_a_batch_with_bad_items_stores_the_good_ones(
    client: httpx.Client, population: Population, deployment: Deployment
) -> None:
    user, posts = population.take(), population.post_ids
    good = [
        {
            "user_id": str(user),
            "post_id": str(posts[0]),
            "interaction_type": "like",
            "event_id": f"ok-{uuid.uuid4()}",
        },
        {
            "user_id": str(user),
            "post_id": str(posts[1]),
            "interaction_type": "share",
            "event_id": f"ok-{uuid.uuid4()}",
        },
    ]
    batch = [
        good[0],
        {"user_id": str(user), "post_id": str(posts[2]), "interaction_type": "poke"},
        {"user_id": "not-a-uuid", "post_id": str(posts[2]), "interaction_type": "view"},
        "garbage",
        {"user_id": str(user), "post_id": str(uuid.uuid4()), "interaction_type": "view"},
        good[1],
        # A new account acts before the app syncs it: its user is created.
        {"user_id": str(uuid.uuid4()), "post_id": str(posts[2]), "interaction_type": "view"},
    ]
    response = client.post("/interactions/track", json={"interactions": batch})

    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "tracked"
    assert (body["accepted"], body["duplicates"]) == (3, 0)
    rejected = {item["index"]: item for item in body["rejected"]}
    assert sorted(rejected) == [1, 2, 3, 4], body
    assert rejected[1]["field"] == "interaction_type"
    assert rejected[2]["field"] == "user_id"
    assert rejected[3]["field"] is None  # not an object at all
    assert rejected[4]["field"] == "post_id"
    assert all(item["error"] for item in rejected.values())
    stored = deployment.query(
        "SELECT event_id FROM user_interaction WHERE event_id IN (:a, :b)",
        a=good[0]["event_id"],
        b=good[1]["event_id"],
    )
    assert len(stored) == 2


def test_an_unknown_route_is_a_json_404(client: httpx.Client) -> None:
    response = client.get("/no/such/route")

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_a_wrong_method_is_a_json_405(client: httpx.Client) -> None:
    response = client.get("/recommendations/generate/extra")
    wrong = client.put("/interactions/track", json=ONE)

    assert response.status_code == 404
    assert wrong.status_code == 405
    assert wrong.json()["error"] == "method_not_allowed"


def test_a_trailing_slash_is_a_json_404_and_never_a_redirect_to_the_host_header(client: httpx.Client) -> None:
    response = client.get("/health/", headers={"host": "evil.example"})

    assert response.status_code == 404
    assert "location" not in response.headers
    assert response.json()["error"] == "not_found"


UNSTORABLE = {
    "a NUL character in a metadata value": ('"metadata": {"note": "a\\u0000b"}', "metadata"),
    "a NUL character in a metadata key": ('"metadata": {"a\\u0000": 1}', "metadata"),
    "an infinite metadata number": ('"metadata": {"dwell": 1e999}', "metadata"),
    "a NaN metadata number": ('"metadata": {"dwell": NaN}', "metadata"),
    "a NUL character in the event id": ('"event_id": "e\\u0000"', "event_id"),
    "a lone surrogate in a metadata value": ('"metadata": {"note": "\\ud800"}', "metadata"),
    "a lone surrogate in a metadata key": ('"metadata": {"\\udfff": 1}', "metadata"),
    "a lone surrogate deep in metadata": ('"metadata": {"a": [{"b": ["x\\ud800y"]}]}', "metadata"),
    "a lone surrogate in the event id": ('"event_id": "e\\udc00"', "event_id"),
}


@pytest.mark.parametrize(("fragment", "field"), UNSTORABLE.values(), ids=UNSTORABLE.keys())
def test_values_the_database_cannot_store_are_rejected_per_item(
    client: httpx.Client, population: Population, fragment: str, field: str
) -> None:
    user, post = population.take(), population.post_ids[6]
    item = f'{{"user_id": "{user}", "post_id": "{post}", "interaction_type": "view", {fragment}}}'
    good = f'{{"user_id": "{user}", "post_id": "{post}", "interaction_type": "like"}}'
    headers = {"content-type": "application/json"}

    single = client.post("/interactions/track", content=item.encode(), headers=headers)
    batch = client.post(
        "/interactions/track", content=f'{{"interactions": [{item}, {good}]}}'.encode(), headers=headers
    )

    assert single.status_code == 422, single.text
    assert f"body.{field}" in [problem["field"] for problem in single.json()["detail"]]
    assert batch.status_code == 202, batch.text
    assert batch.json()["accepted"] == 1
    assert [(r["index"], r["field"]) for r in batch.json()["rejected"]] == [(0, field)]


SPECIAL_TEXT = st.sampled_from(["\ud800", "x\udfffy", "a\x00b", "", "é✓😀", "\\u0000"])
JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**300), max_value=10**300)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | SPECIAL_TEXT
)


def _nested(leaf: Any, levels: int) -> Any:
    for _ in range(levels):
        leaf = [leaf]
    return leaf


METADATA = st.dictionaries(
    st.text(max_size=5) | SPECIAL_TEXT,
    st.recursive(
        JSON_LEAVES,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
        max_leaves=8,
    )
    # Around the depth limit: a leaf 15 to 17 lists below the metadata's own object.
    | st.builds(_nested, JSON_LEAVES, st.integers(min_value=15, max_value=17)),
    max_size=4,
)
MAX_DEPTH = 16


def _deepest(value: Any, depth: int = 0) -> int:
    children = [*value, *value.values()] if isinstance(value, dict) else value
    if not isinstance(children, list):
        return depth
    return max((_deepest(child, depth + 1) for child in children), default=depth)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _storable(metadata: dict[str, Any]) -> bool:
    """What PostgreSQL keeps, said independently of the service's validator."""
    try:
        json.dumps(metadata, allow_nan=False)
        texts = [text.encode("utf-8") for text in _strings(metadata)]
    except (ValueError, UnicodeEncodeError):
        return False
    return all(b"\x00" not in text for text in texts) and _deepest(metadata) <= MAX_DEPTH


@dataclass(frozen=True)
class Content:
    post: int
    kind: str
    metadata: dict[str, Any]


CONTENTS = st.lists(
    st.builds(Content, st.integers(0, 2), st.sampled_from(["view", "click", "like", "share"]), METADATA),
    min_size=1,
    max_size=4,
)
# An item: which of two users, which of three event ids (or none), which content.
ITEMS = st.lists(
    st.tuples(st.integers(0, 1), st.none() | st.integers(0, 2), st.integers(0, 3)), min_size=1, max_size=8
)


def _outcomes(bodies: list[dict[str, Any]]) -> list[str]:
    """Each item's fate, the items taken in order: the first storable item of a user's event id is
    stored; a later one is a duplicate if it is the same event (same content), else a conflict."""
    first: dict[tuple[str, str | None], dict[str, Any]] = {}
    outcomes = []
    for body in bodies:
        key = (body["user_id"], body.get("event_id"))
        if not _storable(body["metadata"]):
            outcomes.append("rejected")
        elif key[1] is None:
            outcomes.append("accepted")
        elif key in first:
            outcomes.append("duplicate" if first[key] == body else "conflict")
        else:
            first[key] = body
            outcomes.append("accepted")
    return outcomes


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(contents=CONTENTS, items=ITEMS, split=st.integers(0, 8))
def test_every_item_is_stored_once_or_listed_as_rejected_duplicate_or_conflict(
    client: httpx.Client,
    deployment: Deployment,
    population: Population,
    contents: list[Content],
    items: list[tuple[int, int | None, int]],
    split: int,
) -> None:
    # New users (tracking creates them), so no other test sees these rows.
    users, run = [str(uuid.uuid4()) for _ in range(2)], uuid.uuid4().hex
    posts = [str(p) for p in population.post_ids[7:10]]
    bodies: list[dict[str, Any]] = []
    for who, slot, which in items:
        content = contents[which % len(contents)]
        body: dict[str, Any] = {
            "user_id": users[who],
            "post_id": posts[content.post],
            "interaction_type": content.kind,
            # Items have one content exactly when they were drawn with it.
            "metadata": {**content.metadata, "content": which % len(contents)},
        }
        if slot is not None:
            body["event_id"] = f"{run}-{slot}"
        bodies.append(body)
    expected = _outcomes(bodies)

    cut = min(split, len(bodies))
    for start, end in ((0, cut), (cut, len(bodies))):
        if start == end:
            continue
        # ensure_ascii keeps lone surrogates as \\u escapes, the way a client's JSON encoder sends them.
        payload = json.dumps({"interactions": bodies[start:end]}, ensure_ascii=True).encode()
        response = client.post(TRACK, content=payload, headers={"content-type": "application/json"})
        assert response.status_code == 202, response.text
        answer, outcomes = response.json(), expected[start:end]
        assert answer["accepted"] == outcomes.count("accepted"), (answer, outcomes)
        assert answer["duplicates"] == outcomes.count("duplicate"), (answer, outcomes)
        assert answer["conflicts"] == len(answer["conflicting"])
        assert [r["index"] for r in answer["conflicting"]] == _where(outcomes, "conflict")
        assert [r["index"] for r in answer["rejected"]] == _where(outcomes, "rejected")
        assert {r["field"] for r in answer["rejected"]} <= {"metadata"}

    # SQLite keeps a UUID as 32 hex digits.
    ids = [uuid.UUID(u).hex if deployment.backend == "sqlite" else u for u in users]
    rows = deployment.query(
        "SELECT user_id, event_id, post_id, interaction_type FROM user_interaction WHERE user_id IN (:a, :b)",
        a=ids[0],
        b=ids[1],
    )
    stored = sorted((uuid.UUID(str(u)), e or "", uuid.UUID(str(p)), k) for u, e, p, k in rows)
    kept = [b for b, o in zip(bodies, expected, strict=True) if o == "accepted"]
    assert stored == sorted(
        (uuid.UUID(b["user_id"]), b.get("event_id", ""), uuid.UUID(b["post_id"]), b["interaction_type"])
        for b in kept
    )


def _where(outcomes: list[str], outcome: str) -> list[int]:
    return [i for i, o in enumerate(outcomes) if o == outcome]


def test_an_event_id_is_scoped_to_its_user_and_its_reuse_for_another_event_is_a_conflict(
    client: httpx.Client, deployment: Deployment, population: Population
) -> None:
    alice, bob = str(uuid.uuid4()), str(uuid.uuid4())
    post, other = (str(p) for p in population.post_ids[10:12])
    event = {"post_id": post, "interaction_type": "like", "event_id": "evt-123"}
    reused = {**event, "user_id": bob, "post_id": other}

    first = client.post(TRACK, json={**event, "user_id": alice})
    theirs = client.post(TRACK, json={**event, "user_id": bob})
    retry = client.post(TRACK, json={**event, "user_id": bob})
    single = client.post(TRACK, json=reused)
    batch = client.post(TRACK, json={"interactions": [{**event, "user_id": bob}, reused]})

    assert [r.status_code for r in (first, theirs, retry, single)] == [202, 202, 202, 409]
    assert (theirs.json()["accepted"], retry.json()["duplicates"]) == (1, 1)
    assert (single.json()["error"], single.json()["detail"]) == (
        "conflict",
        "event_id: already tracked for this user with another post_id",
    )
    assert batch.status_code == 202
    assert {k: batch.json()[k] for k in ("accepted", "duplicates", "conflicts", "rejected")} == {
        "accepted": 0,
        "duplicates": 1,
        "conflicts": 1,
        "rejected": [],
    }
    assert batch.json()["conflicting"] == [
        {"index": 1, "field": "event_id", "error": "already tracked for this user with another post_id"}
    ]
    rows = deployment.query("SELECT user_id, post_id FROM user_interaction WHERE event_id = 'evt-123'")
    stored = sorted((uuid.UUID(str(u)), uuid.UUID(str(p))) for u, p in rows)
    assert stored == sorted((uuid.UUID(u), uuid.UUID(post)) for u in (alice, bob))


def test_a_body_that_is_not_json_is_a_415_saying_what_to_send(client: httpx.Client) -> None:
    response = client.post(
        GENERATE, content=json.dumps({"user_id": SOME_USER}).encode(), headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"
    assert "application/json" in response.json()["detail"]


def test_generate_read_with_get_is_a_405_not_a_user_id(client: httpx.Client) -> None:
    response = client.get(GENERATE)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
