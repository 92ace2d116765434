"""The statistical model behind the synthetic dataset, as numpy arrays (no text, no files).

Users have a few topic interests (Dirichlet weights) and log-normal activity; posts have a topic and
Zipf-like popularity inside it; every view may lead to a click, a like and a share, in that order.
Interaction times never precede the post's or the user's creation and fall in the last `days` days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

TOPIC_WORDS: dict[str, tuple[str, ...]] = {
    "technology": ("software", "startup", "cloud", "gadget", "chip", "robot", "app", "developer"),
    "sports": ("match", "league", "goal", "coach", "stadium", "season", "playoffs", "training"),
    "music": ("album", "concert", "guitar", "playlist", "singer", "festival", "vinyl", "melody"),
    "cooking": ("recipe", "kitchen", "sauce", "baking", "spices", "dinner", "pasta", "flavor"),
    "travel": ("flight", "beach", "passport", "hostel", "roadtrip", "island", "backpack", "museum"),
    "fitness": ("workout", "cardio", "protein", "gym", "yoga", "marathon", "stretching", "squats"),
    "gaming": ("console", "speedrun", "esports", "quest", "multiplayer", "controller", "boss", "loot"),
    "movies": ("trailer", "director", "cinema", "sequel", "actor", "screenplay", "premiere", "oscar"),
    "science": ("experiment", "telescope", "molecule", "research", "physics", "genome", "lab", "theory"),
    "finance": ("stocks", "budget", "investing", "crypto", "savings", "dividend", "market", "inflation"),
    "fashion": ("outfit", "sneakers", "runway", "vintage", "denim", "designer", "style", "jacket"),
    "art": ("painting", "canvas", "sketch", "gallery", "sculpture", "watercolor", "portrait", "mural"),
    "books": ("novel", "author", "chapter", "library", "poetry", "bestseller", "fiction", "memoir"),
    "pets": ("puppy", "kitten", "adoption", "vet", "leash", "aquarium", "parrot", "grooming"),
    "photography": ("lens", "aperture", "tripod", "sunset", "portrait", "shutter", "film", "landscape"),
    "politics": ("election", "senate", "policy", "debate", "campaign", "vote", "reform", "parliament"),
}
TOPICS = tuple(TOPIC_WORDS)
INTERACTION_TYPES = ("view", "click", "like", "share")
SOURCES = ("feed", "feed", "feed", "profile", "search", "share_link")
# Funnel depth (1 = view only ... 4 = view, click, like, share) for in-interest and random picks.
DEPTH_P_INTEREST = (0.62, 0.2, 0.13, 0.05)
DEPTH_P_RANDOM = (0.86, 0.09, 0.04, 0.01)
INTEREST_SHARE = 0.85
US_PER_DAY = 86_400_000_000
US_PER_HOUR = 3_600_000_000


@dataclass(frozen=True)
class GeneratorConfig:
    users: int = 100
    posts: int = 500
    interactions: int = 5000
    days: int = 30
    seed: int = 42
    now: datetime = datetime(2026, 1, 1, tzinfo=UTC)

    @property
    def now_us(self) -> int:
        return int(self.now.timestamp() * 1_000_000)


@dataclass
class UserArrays:
    created_us: np.ndarray
    activity: np.ndarray
    interests: np.ndarray  # (n, 4) topic indexes, -1 where the user has fewer interests
    interest_cum: np.ndarray  # (n, 4) cumulative interest weights
    ids: np.ndarray


@dataclass
class PostArrays:
    author: np.ndarray
    topic: np.ndarray
    created_us: np.ndarray
    popularity: np.ndarray
    ids: np.ndarray


@dataclass
class InteractionArrays:
    user: np.ndarray
    post: np.ndarray
    kind: np.ndarray
    created_us: np.ndarray
    dwell_ms: np.ndarray
    source: np.ndarray
    id_bytes: np.ndarray


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_UUID_HEX_POSITIONS = np.array([i for i in range(36) if i not in (8, 13, 18, 23)])


def random_uuid_bytes(rng: np.random.Generator, n: int) -> np.ndarray:
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    return raw


def format_uuids(raw: np.ndarray) -> np.ndarray:
    """(n, 16) uint8 → (n,) array of canonical lowercase UUID strings, formatted in bulk."""
    nibbles = np.empty((len(raw), 32), dtype=np.uint8)
    nibbles[:, 0::2] = raw >> 4
    nibbles[:, 1::2] = raw & 0x0F
    text = np.full((len(raw), 36), ord("-"), dtype=np.uint8)
    text[:, _UUID_HEX_POSITIONS] = _HEX[nibbles]
    return text.view("S36").ravel().astype("U36")


def make_users(cfg: GeneratorConfig, rng: np.random.Generator) -> UserArrays:
    n, now = cfg.users, cfg.now_us
    topic_prior = rng.dirichlet(np.full(len(TOPICS), 2.0))
    # Gumbel top-k: each user draws distinct interests, popular topics more often.
    keys = np.log(topic_prior) + rng.gumbel(size=(n, len(TOPICS)))
    ranked = np.argsort(-keys, axis=1)[:, :4]
    count = 1 + rng.binomial(3, 0.5, size=n)
    has = np.arange(4) < count[:, None]
    weights = np.where(has, rng.gamma(1.0, size=(n, 4)), 0.0)
    weights /= weights.sum(axis=1, keepdims=True)
    order = np.argsort(-weights, axis=1)
    interests = np.where(has, ranked, -1)
    interests = np.take_along_axis(interests, order, axis=1)
    cum = np.cumsum(np.take_along_axis(weights, order, axis=1), axis=1)
    window_start = now - cfg.days * US_PER_DAY
    joined_early = rng.random(n) < 0.85
    created = np.where(
        joined_early,
        rng.integers(window_start - 3 * 365 * US_PER_DAY, window_start, size=n),
        rng.integers(window_start, now - 3 * US_PER_HOUR, size=n),
    )
    activity = rng.lognormal(0.0, 1.3, size=n)
    return UserArrays(created, activity, interests, cum, format_uuids(random_uuid_bytes(rng, n)))


def make_posts(cfg: GeneratorConfig, users: UserArrays, rng: np.random.Generator) -> PostArrays:
    n, now = cfg.posts, cfg.now_us
    author_weight = rng.lognormal(0.0, 1.0, size=cfg.users) * users.activity**0.3
    author = rng.choice(cfg.users, size=n, p=author_weight / author_weight.sum())
    slot = (rng.random(n)[:, None] > users.interest_cum[author]).sum(axis=1)
    topic = users.interests[author, np.minimum(slot, 3)]
    topic = np.where(topic < 0, users.interests[author, 0], topic)
    earliest = np.maximum(users.created_us[author], now - int(1.5 * cfg.days * US_PER_DAY))
    latest = now - 2 * US_PER_HOUR
    created = earliest + (rng.random(n) * (latest - earliest)).astype(np.int64)
    # Zipf-like popularity by a random rank inside each topic, scaled by the author's appeal.
    rank = np.empty(n, dtype=np.int64)
    for t in range(len(TOPICS)):
        members = np.flatnonzero(topic == t)
        rank[members] = rng.permutation(len(members)) + 1
    popularity = rank**-1.1 * author_weight[author] ** 0.5
    return PostArrays(author, topic, created, popularity, format_uuids(random_uuid_bytes(rng, n)))


def _funnel_depths(n_events: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per view: whether it follows the user's interests, and how deep into the funnel it goes."""
    in_interest = rng.random(n_events) < INTEREST_SHARE
    depth = (
        np.where(
            in_interest,
            rng.choice(4, size=n_events, p=DEPTH_P_INTEREST),
            rng.choice(4, size=n_events, p=DEPTH_P_RANDOM),
        )
        + 1
    )
    total = np.cumsum(depth)
    n_views = int(np.searchsorted(total, n_events)) + 1
    depth = depth[:n_views]
    depth[-1] -= int(total[n_views - 1]) - n_events  # trim so the event count is exact
    return in_interest[:n_views], depth


def _pick_posts(
    users: UserArrays,
    posts: PostArrays,
    viewer: np.ndarray,
    in_interest: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    n_posts = len(posts.author)
    picked = rng.integers(0, n_posts, size=len(viewer))
    slot = (rng.random(len(viewer))[:, None] > users.interest_cum[viewer]).sum(axis=1)
    topic = np.where(in_interest, users.interests[viewer, np.minimum(slot, 3)], -1)
    for t in range(len(TOPICS)):
        members = np.flatnonzero(posts.topic == t)
        views = np.flatnonzero(topic == t)
        if len(members) and len(views):
            cum = np.cumsum(posts.popularity[members])
            picked[views] = members[np.searchsorted(cum, rng.random(len(views)) * cum[-1], side="right")]
    return picked


def make_interactions(
    cfg: GeneratorConfig, users: UserArrays, posts: PostArrays, rng: np.random.Generator
) -> InteractionArrays:
    now = cfg.now_us
    in_interest, depth = _funnel_depths(cfg.interactions, rng)
    viewer = rng.choice(cfg.users, size=len(depth), p=users.activity / users.activity.sum())
    post = _pick_posts(users, posts, viewer, in_interest, rng)
    low = np.maximum(
        np.maximum(posts.created_us[post], users.created_us[viewer]), now - cfg.days * US_PER_DAY
    )
    span = now - US_PER_HOUR - low  # the last hour is left for the click/like/share that follow a view
    delay = (rng.exponential(2.0 * US_PER_DAY, size=len(depth)) % span).astype(np.int64)
    view_us = low + delay
    view_index = np.repeat(np.arange(len(depth)), depth)
    step = np.arange(len(view_index)) - np.repeat(np.cumsum(depth) - depth, depth)
    gap = np.where(step > 0, 1_000_000 + rng.exponential(30e6, size=len(view_index)).clip(max=900e6), 0)
    gap_sum = np.cumsum(gap.astype(np.int64))
    offset = gap_sum - np.repeat(gap_sum[np.cumsum(depth) - depth], depth)
    created = view_us[view_index] + offset
    order = np.argsort(created, kind="stable")
    dwell = (rng.lognormal(8.0, 0.8, size=len(depth)) * (0.6 + 0.4 * depth)).astype(np.int64)
    source = rng.integers(0, len(SOURCES), size=len(depth))
    return InteractionArrays(
        user=viewer[view_index][order],
        post=post[view_index][order],
        kind=step[order].astype(np.int8),
        created_us=created[order],
        dwell_ms=dwell[view_index][order],
        source=source[view_index][order],
        id_bytes=random_uuid_bytes(rng, len(view_index)),
    )


def follower_counts(
    users: UserArrays, posts: PostArrays, inter: InteractionArrays, rng: np.random.Generator
) -> np.ndarray:
    views_received = np.bincount(posts.author[inter.post[inter.kind == 0]], minlength=len(users.ids))
    base = rng.lognormal(3.0, 1.2, size=len(users.ids))
    boost = (users.activity / np.median(users.activity)) ** 0.4 * (1.0 + views_received) ** 0.5
    counts: np.ndarray = (base * boost).astype(np.int64)
    return counts
