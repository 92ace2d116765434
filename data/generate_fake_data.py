"""Generate a synthetic interaction dataset: `python -m data.generate_fake_data --help`.

The output is fully determined by --seed and --now (the reference time, also written as generated_at):
the same arguments give a byte-identical file. Interactions are formatted in bulk from numpy arrays,
so 5M interactions take seconds, not minutes; see data/synthetic.py for the model.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from faker import Faker
from tqdm import tqdm

from app.infrastructure.jobs import run_job
from data.io import DatasetWriter, dumps
from data.synthetic import (
    INTERACTION_TYPES,
    SOURCES,
    TOPIC_WORDS,
    TOPICS,
    GeneratorConfig,
    InteractionArrays,
    PostArrays,
    UserArrays,
    follower_counts,
    format_uuids,
    make_interactions,
    make_posts,
    make_users,
)

POOL_SIZE = 2000


def iso_strings(micros: np.ndarray) -> np.ndarray:
    return np.char.add(np.datetime_as_string(micros.astype("datetime64[us]"), unit="us"), "+00:00")


@dataclass(frozen=True)
class TextPools:
    """A bounded set of faker strings reused by index, so faker cost does not grow with the data."""

    names: list[str]
    user_names: list[str]
    sentences: list[str]

    @classmethod
    def build(cls, seed: int) -> TextPools:
        fake = Faker("en_US")
        fake.seed_instance(seed)
        return cls(
            names=[fake.name() for _ in range(POOL_SIZE)],
            user_names=[fake.user_name() for _ in range(POOL_SIZE)],
            sentences=[fake.sentence(nb_words=9) for _ in range(POOL_SIZE)],
        )


def user_lines(
    writer: DatasetWriter,
    users: UserArrays,
    followers: np.ndarray,
    pools: TextPools,
    rng: np.random.Generator,
) -> list[str]:
    n = len(users.ids)
    name_index = rng.integers(0, POOL_SIZE, size=(n, 2)).tolist()
    created = iso_strings(users.created_us).tolist()
    prefix = writer.record_prefix("user")
    lines = []
    for i, (user_id, (a, b), count, at, topics) in enumerate(
        zip(
            users.ids.tolist(), name_index, followers.tolist(), created, users.interests.tolist(), strict=True
        )
    ):
        record = {
            "id": user_id,
            "username": f"{pools.user_names[a][:50]}_{i}",
            "display_name": pools.names[b],
            "follower_count": count,
            "created_at": at,
            "interests": [TOPICS[t] for t in topics if t >= 0],
        }
        lines.append(prefix + dumps(record)[1:])
    return lines


def post_lines(
    writer: DatasetWriter, posts: PostArrays, users: UserArrays, pools: TextPools, rng: np.random.Generator
) -> list[str]:
    n = len(posts.ids)
    words = rng.integers(0, 8, size=(n, 3)).tolist()
    sentence = rng.integers(0, POOL_SIZE, size=n).tolist()
    trending = (rng.random(n) < 0.1).tolist()
    created = iso_strings(posts.created_us).tolist()
    authors = users.ids[posts.author].tolist()
    prefix = writer.record_prefix("post")
    lines = []
    for post_id, author, t, w, s, extra, at in zip(
        posts.ids.tolist(), authors, posts.topic.tolist(), words, sentence, trending, created, strict=True
    ):
        topic, vocab = TOPICS[t], TOPIC_WORDS[TOPICS[t]]
        hashtags = [topic, vocab[w[0]], *(["trending"] if extra else [])]
        content = f"{pools.sentences[s]} {vocab[w[0]].capitalize()}, {vocab[w[1]]} and {vocab[w[2]]}."
        record = {
            "id": post_id,
            "author_id": author,
            "content": content,
            "topic": topic,
            "hashtags": hashtags,
        }
        lines.append(prefix + dumps({**record, "created_at": at})[1:])
    return lines


def interaction_lines(
    writer: DatasetWriter, inter: InteractionArrays, users: UserArrays, posts: PostArrays, part: slice
) -> list[str]:
    prefix = writer.record_prefix("interaction")
    columns = zip(
        format_uuids(inter.id_bytes[part]).tolist(),
        users.ids[inter.user[part]].tolist(),
        posts.ids[inter.post[part]].tolist(),
        inter.kind[part].tolist(),
        iso_strings(inter.created_us[part]).tolist(),
        inter.dwell_ms[part].tolist(),
        inter.source[part].tolist(),
        strict=True,
    )
    return [
        f'{prefix}"id":"{i}","user_id":"{u}","post_id":"{p}","interaction_type":"{INTERACTION_TYPES[k]}",'
        f'"created_at":"{t}","metadata":'
        + (f'{{"dwell_time_ms":{d},"source":"{SOURCES[s]}"}}}}' if k == 0 else "null}")
        for i, u, p, k, t, d, s in columns
    ]


def generate(cfg: GeneratorConfig, output: Path, chunk: int = 200_000) -> dict[str, int]:
    """Write the dataset to `output` (.json or .jsonl); returns the record counts."""
    rng = np.random.default_rng(cfg.seed)
    pools = TextPools.build(cfg.seed)
    users = make_users(cfg, rng)
    posts = make_posts(cfg, users, rng)
    inter = make_interactions(cfg, users, posts, rng)
    followers = follower_counts(users, posts, inter, rng)
    counts = {"users": cfg.users, "posts": cfg.posts, "interactions": len(inter.kind)}
    metadata = {
        "generated_at": cfg.now.isoformat(),
        "seed": cfg.seed,
        "days": cfg.days,
        "now": cfg.now.isoformat(),
        "counts": counts,
        "topics": list(TOPICS),
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    with DatasetWriter(output, metadata) as writer:
        writer.write("user", user_lines(writer, users, followers, pools, rng))
        writer.write("post", post_lines(writer, posts, users, pools, rng))
        with tqdm(total=counts["interactions"], desc="interactions", unit="rec", disable=None) as bar:
            for start in range(0, counts["interactions"], chunk):
                part = slice(start, start + chunk)
                writer.write("interaction", interaction_lines(writer, inter, users, posts, part))
                bar.update(len(inter.kind[part]))
    return counts


def parse_now(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def parse_args(argv: list[str] | None) -> tuple[GeneratorConfig, Path]:
    parser = argparse.ArgumentParser(description="Generate a synthetic interaction dataset.")
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--posts", type=int, default=500)
    parser.add_argument("--interactions", type=int, default=5000)
    parser.add_argument("--days", type=int, default=30, help="interactions span the last DAYS days")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--now",
        type=parse_now,
        default=None,
        help="reference time (ISO 8601); default: current time to the second",
    )
    parser.add_argument(
        "--output", type=Path, default=Path("data/fake_interactions.json"), help=".json or .jsonl"
    )
    args = parser.parse_args(argv)
    if min(args.users, args.posts, args.interactions, args.days) < 1:
        parser.error("--users, --posts, --interactions and --days must be at least 1")
    if args.output.suffix not in (".json", ".jsonl"):
        parser.error("--output must end in .json or .jsonl")
    now = args.now or datetime.now(UTC).replace(microsecond=0)
    return GeneratorConfig(args.users, args.posts, args.interactions, args.days, args.seed, now), args.output


def main(argv: list[str] | None = None) -> int:
    cfg, output = parse_args(argv)
    started = time.perf_counter()
    counts = generate(cfg, output)
    elapsed = time.perf_counter() - started
    size_mb = output.stat().st_size / 1e6
    summary = ", ".join(f"{value} {key}" for key, value in counts.items())
    print(
        f"wrote {summary} to {output} ({size_mb:.1f} MB) in {elapsed:.1f} s",
        f"(seed {cfg.seed}, now {cfg.now.isoformat()})",
    )
    return 0


if __name__ == "__main__":
    sys.exit(run_job("generate", main))
