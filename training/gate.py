"""The promotion gate: a new model replaces the active one only when it is at least as good on
the same data.

Both figures come from one held-out split of the candidate's data: the candidate's, and that of
the active model's configuration fitted on the same train side. The active model's own stored
metric is never used, since it may come from other data or an older split.
"""

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
    active_label: str = "the active model",
) -> GateDecision:
    """First model of a data source (`active` None): must beat the popularity baseline. Later:
    within `tolerance` (relative) of `active` or better. `candidate` and `active` are metrics of
    the two configurations evaluated on the same split; `active_label` names the second in the
    reason, which records both figures."""
    score = candidate.get(metric)
    if score is None:
        return GateDecision(False, f"the candidate has no {metric} metric")
    if active is None:
        return _first_model(score, popularity, metric)
    current = active.get(metric)
    if current is None:
        return GateDecision(False, f"{active_label} has no {metric} on the candidate's split")
    floor = float(current) * (1.0 - tolerance)
    figures = f"{metric} {score:.4f} vs {float(current):.4f} for {active_label}"
    if score >= floor:
        return GateDecision(True, f"{figures} (floor {floor:.4f})")
    return GateDecision(False, f"{figures}: below it by more than {tolerance:.0%} (floor {floor:.4f})")


def _first_model(score: float, popularity: Mapping[str, float] | None, metric: str) -> GateDecision:
    baseline = (popularity or {}).get(metric)
    if baseline is None:
        return GateDecision(True, f"first model for this data ({metric} {score:.4f}); no baseline to beat")
    if score > baseline:
        return GateDecision(
            True, f"first model for this data beats popularity: {metric} {score:.4f} > {baseline:.4f}"
        )
    return GateDecision(
        False, f"first model for this data does not beat popularity: {metric} {score:.4f} <= {baseline:.4f}"
    )
