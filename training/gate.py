"""The promotion gate: a new model replaces the active one only when it is at least as good."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

GATE_METRIC = "ndcg@10"


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str


def decide(
    candidate: Mapping[str, float],
    active: Mapping[str, float] | None,
    *,
    popularity: Mapping[str, float] | None,
    tolerance: float = 0.02,
    metric: str = GATE_METRIC,
) -> GateDecision:
    """First model: must beat the popularity baseline. Later: within `tolerance` (relative) of
    the active model's metric or better. Both read `metric` from held-out evaluation results."""
    score = candidate.get(metric)
    if score is None:
        return GateDecision(False, f"the candidate has no {metric} metric")
    if active is None or active.get(metric) is None:
        baseline = (popularity or {}).get(metric)
        if baseline is None:
            return GateDecision(True, f"first model ({metric} {score:.4f}); no baseline to compare with")
        if score > baseline:
            return GateDecision(True, f"first model beats popularity: {metric} {score:.4f} > {baseline:.4f}")
        return GateDecision(
            False, f"first model does not beat popularity: {metric} {score:.4f} <= {baseline:.4f}"
        )
    current = float(active[metric])
    floor = current * (1.0 - tolerance)
    if score >= floor:
        return GateDecision(True, f"{metric} {score:.4f} vs active {current:.4f} (floor {floor:.4f})")
    return GateDecision(
        False, f"{metric} {score:.4f} is below the active model's {current:.4f} minus {tolerance:.0%}"
    )
