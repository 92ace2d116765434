"""Garbage-collector pauses from the lists a worker keeps: ranked lists as columns (`RankedPosts`,
the service) against the same lists as a tuple of `Recommendation` objects (the reference).

    uv run python -m benchmarks.kept_lists [--lists 20000] [--kept 2000] [--posts 200]

Plays a worker computing `--lists` new lists, each kept in an LRU of stored lists and one of
served lists (`--kept` each, the `ML_KEPT_LISTS` default), as the computed path does, and
records every collection the interpreter runs meanwhile: how many of the oldest generation,
the longest pause and the total time in the collector. Pauses are stop-the-world for the worker,
so the longest one lands on a request's latency whole.
"""

from __future__ import annotations

import argparse
import gc
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from app.domain.entities import RankedPosts, Reason, Recommendation, ServedList, StoredList
from app.infrastructure.kept_lists import InMemoryKeptLists, InMemoryKeptServedLists


@dataclass
class Pauses:
    started: dict[int, float] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)
    full: int = 0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        generation = info["generation"]
        if phase == "start":
            self.started[generation] = time.perf_counter()
            return
        self.seconds.append(time.perf_counter() - self.started.pop(generation))
        self.full += generation == 2


def play(make_items: Callable[[list[Recommendation]], Any], lists: int, kept: int, posts: int) -> Pauses:
    """Computes `lists` lists through both LRUs; returns the collections that ran meanwhile."""
    stored_lru, served_lru = InMemoryKeptLists(kept), InMemoryKeptServedLists(kept)
    now = datetime.now(UTC)
    reasons = list(Reason)
    gc.collect()
    pauses = Pauses()
    gc.callbacks.append(pauses)
    try:
        for n in range(lists):
            computed = [Recommendation(uuid.uuid4(), 1 - i / posts, reasons[i % 5]) for i in range(posts)]
            items = make_items(computed)
            user = uuid.uuid4()
            stored_lru.put(StoredList(user, "v1", now, now + timedelta(hours=1), items))
            served_lru.put(ServedList(uuid.uuid4(), user, "v1", "model", now + timedelta(hours=1), items))
            if n % 5000 == 4999:
                print(f"  {n + 1} lists", flush=True)
    finally:
        gc.callbacks.remove(pauses)
    return pauses


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lists", type=int, default=20_000)
    parser.add_argument("--kept", type=int, default=2000)
    parser.add_argument("--posts", type=int, default=200)
    args = parser.parse_args(argv)
    ways: list[tuple[str, Callable[[list[Recommendation]], Any]]] = [
        ("tuple of Recommendation (reference)", tuple),
        ("RankedPosts columns (the service)", RankedPosts),
    ]
    rows = []
    for label, make in ways:
        print(f"{label}: {args.lists} lists of {args.posts} posts, {args.kept} kept of each kind", flush=True)
        pauses = play(make, args.lists, args.kept, args.posts)
        rows.append((label, pauses.full, max(pauses.seconds) * 1e3, sum(pauses.seconds) * 1e3))
    print(f"\n{'lists held as':38} {'full collections':>16} {'longest pause ms':>17} {'total ms':>9}")
    for label, full, longest, total in rows:
        print(f"{label:38} {full:16d} {longest:17.1f} {total:9.0f}")
    reference, service = rows
    print(f"\nlongest pause: {service[2] / reference[2]:.2f}× the reference's")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
