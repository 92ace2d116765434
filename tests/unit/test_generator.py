"""Properties of the synthetic dataset, checked on a small generated file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from data.generate_fake_data import generate, main
from data.io import DatasetFrames, load_frames
from data.schemas import validate_file
from data.synthetic import TOPIC_WORDS, GeneratorConfig

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def make_config(**overrides: Any) -> GeneratorConfig:
    values: dict[str, Any] = {
        "users": 200,
        "posts": 400,
        "interactions": 20_000,
        "days": 30,
        "seed": 7,
        "now": NOW,
    }
    values.update(overrides)
    return GeneratorConfig(**values)


@pytest.fixture(scope="module")
def dataset_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("generated") / "data.jsonl"
    generate(make_config(), path)
    return path


@pytest.fixture(scope="module")
def frames(dataset_file: Path) -> DatasetFrames:
    return load_frames(dataset_file)


def test_counts_match_the_requested_sizes(frames: DatasetFrames) -> None:
    assert (len(frames.users), len(frames.posts), len(frames.interactions)) == (200, 400, 20_000)


def test_generated_file_passes_validation(dataset_file: Path) -> None:
    report = validate_file(dataset_file)

    assert report.ok, report.render()


def test_top_tenth_of_users_make_most_of_the_interactions(frames: DatasetFrames) -> None:
    per_user = frames.interactions.groupby("user_id").size().sort_values(ascending=False)

    assert per_user.iloc[:20].sum() / len(frames.interactions) > 0.4


def test_views_concentrate_on_a_few_popular_posts(frames: DatasetFrames) -> None:
    views = frames.interactions[frames.interactions.interaction_type == "view"]
    per_post = views.groupby("post_id").size().sort_values(ascending=False)

    assert per_post.iloc[:40].sum() / len(views) > 0.35


def test_funnel_counts_decrease_strongly_from_views_to_shares(frames: DatasetFrames) -> None:
    counts = frames.interactions.interaction_type.value_counts()

    assert counts["click"] < 0.5 * counts["view"]
    assert counts["like"] < 0.6 * counts["click"]
    assert counts["share"] < 0.5 * counts["like"]


def test_every_click_like_and_share_follows_a_view_of_the_same_post_by_the_same_user(
    frames: DatasetFrames,
) -> None:
    steps = frames.interactions.pivot_table(
        index=["user_id", "post_id"], columns="interaction_type", values="created_at", aggfunc="min"
    )
    counts = frames.interactions.pivot_table(
        index=["user_id", "post_id"], columns="interaction_type", values="id", aggfunc="count", fill_value=0
    )

    for earlier, later in [("view", "click"), ("click", "like"), ("like", "share")]:
        followed = steps[later].notna()
        assert (steps.loc[followed, earlier] < steps.loc[followed, later]).all()
        assert (counts[earlier] >= counts[later]).all()


def test_interactions_fall_in_the_window_and_never_precede_the_post_or_the_user(
    frames: DatasetFrames,
) -> None:
    joined = frames.interactions.merge(
        frames.posts[["id", "created_at"]].rename(columns={"id": "post_id", "created_at": "post_at"}),
        on="post_id",
    ).merge(
        frames.users[["id", "created_at"]].rename(columns={"id": "user_id", "created_at": "user_at"}),
        on="user_id",
    )

    assert joined.created_at.min() >= pd.Timestamp(NOW - timedelta(days=30))
    assert joined.created_at.max() <= pd.Timestamp(NOW)
    assert (joined.created_at >= joined.post_at).all()
    assert (joined.created_at >= joined.user_at).all()


def test_interactions_are_sorted_by_time(frames: DatasetFrames) -> None:
    assert frames.interactions.created_at.is_monotonic_increasing


def test_users_view_mostly_posts_of_their_interests(frames: DatasetFrames) -> None:
    views = frames.interactions[frames.interactions.interaction_type == "view"]
    joined = views.merge(frames.posts[["id", "topic"]].rename(columns={"id": "post_id"}), on="post_id").merge(
        frames.users[["id", "interests"]].rename(columns={"id": "user_id"}), on="user_id"
    )
    share = np.mean(
        [topic in interests for topic, interests in zip(joined.topic, joined.interests, strict=True)]
    )

    assert 0.8 <= share <= 0.95


def test_users_have_a_few_interests_among_a_dozen_or_more_topics(frames: DatasetFrames) -> None:
    sizes = frames.users.interests.map(len)

    assert 12 <= len(TOPIC_WORDS) <= 20
    assert sizes.between(1, 4).all()
    assert frames.posts.topic.nunique() >= 12


def test_posts_carry_topic_words_and_hashtags_without_a_hash_sign(frames: DatasetFrames) -> None:
    for post in frames.posts.head(50).to_dict("records"):
        assert any(word in post["content"].lower() for word in TOPIC_WORDS[post["topic"]])
        assert post["topic"] in post["hashtags"]
        assert all(not tag.startswith("#") for tag in post["hashtags"])


def test_follower_counts_are_heavy_tailed_and_non_negative(frames: DatasetFrames) -> None:
    followers = frames.users.follower_count

    assert followers.min() >= 0
    assert followers.max() > 10 * followers.median()


def test_usernames_are_unique_and_fit_the_column(frames: DatasetFrames) -> None:
    assert frames.users.username.is_unique
    assert frames.users.username.str.len().max() <= 64


def test_same_seed_and_now_give_byte_identical_files(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    generate(make_config(interactions=2000), first)
    generate(make_config(interactions=2000), second)

    assert first.read_bytes() == second.read_bytes()


def test_a_different_seed_gives_a_different_dataset(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    generate(make_config(interactions=2000), first)
    generate(make_config(interactions=2000, seed=8), second)

    assert first.read_bytes() != second.read_bytes()


def test_both_formats_hold_the_same_records(tmp_path: Path) -> None:
    generate(make_config(interactions=2000), tmp_path / "a.json")
    generate(make_config(interactions=2000), tmp_path / "a.jsonl")
    document, lines = load_frames(tmp_path / "a.json"), load_frames(tmp_path / "a.jsonl")

    pd.testing.assert_frame_equal(document.users, lines.users)
    pd.testing.assert_frame_equal(document.posts, lines.posts)
    pd.testing.assert_frame_equal(document.interactions, lines.interactions)


def test_command_line_writes_the_file_and_prints_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out.jsonl"
    argv = ["--users", "20", "--posts", "30", "--interactions", "500", "--now", "2026-11-01T00:00:00Z"]

    assert main([*argv, "--output", str(output)]) == 0
    assert "500 interactions" in capsys.readouterr().out
    assert output.read_text().splitlines()[0].startswith('{"record":"metadata"')
