"""Top-K ranking metrics with binary relevance; pure numpy.

Every per-user function takes the ranked recommendations (best first) and the relevant ids;
values are in [0, 1] and 0 when nothing is relevant.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

Ids = npt.ArrayLike


def hits(recommended: Ids, relevant: Ids, k: int) -> npt.NDArray[np.bool_]:
    """Whether each of the first k recommendations is relevant."""
    top = np.asarray(recommended)[:k]
    return np.isin(top, np.asarray(relevant))


def precision_at_k(recommended: Ids, relevant: Ids, k: int) -> float:
    """Relevant among the first k, divided by k (a short list is not rewarded)."""
    return float(hits(recommended, relevant, k).sum()) / k


def recall_at_k(recommended: Ids, relevant: Ids, k: int) -> float:
    """Relevant among the first k, divided by the number of relevant items."""
    n_relevant = len(np.unique(np.asarray(relevant)))
    return float(hits(recommended, relevant, k).sum()) / n_relevant if n_relevant else 0.0


def ndcg_at_k(recommended: Ids, relevant: Ids, k: int) -> float:
    """DCG with gain 1 per hit at rank i (1-based) discounted by log2(i + 1), over the ideal DCG."""
    h = hits(recommended, relevant, k)
    n_relevant = len(np.unique(np.asarray(relevant)))
    if n_relevant == 0:
        return 0.0
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = discounts[: min(n_relevant, k)].sum()
    return float((h * discounts[: len(h)]).sum() / ideal)


def average_precision_at_k(recommended: Ids, relevant: Ids, k: int) -> float:
    """Mean of precision@i over the ranks i of hits, divided by min(|relevant|, k)."""
    h = hits(recommended, relevant, k)
    n_relevant = len(np.unique(np.asarray(relevant)))
    if n_relevant == 0:
        return 0.0
    precision = np.cumsum(h) / np.arange(1, len(h) + 1)
    return float((precision * h).sum() / min(n_relevant, k))


def average_precision(recommended: Ids, relevant: Ids, k: int) -> float:
    """Like average_precision_at_k but divided by |relevant| even when it exceeds k: Microsoft
    Recommenders' `map` (hit j at rank r adds j / r)."""
    h = hits(recommended, relevant, k)
    n_relevant = len(np.unique(np.asarray(relevant)))
    if n_relevant == 0:
        return 0.0
    precision = np.cumsum(h) / np.arange(1, len(h) + 1)
    return float((precision * h).sum() / n_relevant)


def catalogue_coverage(recommendation_lists: Iterable[Ids], k: int, n_items: int) -> float:
    """Share of the catalogue that appears in at least one user's top k."""
    if n_items <= 0:
        return 0.0
    shown: set[object] = set()
    for recs in recommendation_lists:
        shown.update(np.asarray(recs)[:k].tolist())
    return len(shown) / n_items


def ranking_metrics(
    recommended: Sequence[Ids],
    relevant: Sequence[Ids],
    k_values: Iterable[int],
    n_items: int,
    *,
    map_k: int | None = None,
) -> dict[str, float]:
    """Means over users of precision/recall/ndcg/map@k, plus coverage@k, keyed like "ndcg@10";
    with `map_k`, also "map": the mean average_precision over the first `map_k`."""
    if len(recommended) != len(relevant):
        raise ValueError("one relevant set per recommendation list is required")
    out: dict[str, float] = {}
    for k in k_values:
        for name, fn in (
            ("precision", precision_at_k),
            ("recall", recall_at_k),
            ("ndcg", ndcg_at_k),
            ("map", average_precision_at_k),
        ):
            values = [fn(r, t, k) for r, t in zip(recommended, relevant, strict=True)]
            out[f"{name}@{k}"] = float(np.mean(values)) if values else 0.0
        out[f"coverage@{k}"] = catalogue_coverage(recommended, k, n_items)
    if map_k is not None:
        values = [average_precision(r, t, map_k) for r, t in zip(recommended, relevant, strict=True)]
        out["map"] = float(np.mean(values)) if values else 0.0
    return out
