"""Prometheus metrics. With PROMETHEUS_MULTIPROC_DIR set (several workers) every process writes
its samples to that directory and a scrape aggregates them."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

RECOMMENDATION_REQUESTS = Counter(
    "ml_recommendation_requests_total", "Recommendation requests answered, by source", ["source"]
)
RECOMMENDATION_LATENCY = Histogram(
    "ml_recommendation_latency_seconds",
    "Time to produce recommendations inside the service, by source",
    ["source"],
    buckets=LATENCY_BUCKETS,
)
RECOMMENDATIONS_SERVED = Counter(
    "ml_recommendations_served_total", "Recommended posts returned, by source", ["source"]
)
CACHE_LOOKUPS = Counter(
    "ml_recommendation_cache_total", "Precomputed-recommendation lookups, hit or miss", ["result"]
)
HTTP_REQUESTS = Counter("ml_http_requests_total", "HTTP requests", ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "ml_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
INTERACTIONS = Counter("ml_interactions_total", "Tracked interactions by outcome", ["outcome"])
MODEL_INFO = Gauge(
    "ml_model_info", "The model version being served (value 1)", ["version"], multiprocess_mode="livemax"
)
MODEL_LOADED = Gauge("ml_model_loaded", "1 when a model is loaded", multiprocess_mode="livemin")


def set_model_version(previous: str | None, current: str | None) -> None:
    if previous is not None and previous != current:
        MODEL_INFO.labels(version=previous).set(0)
    if current is not None:
        MODEL_INFO.labels(version=current).set(1)
    MODEL_LOADED.set(1 if current is not None else 0)


def render() -> tuple[bytes, str]:
    """The scrape body and its content type, aggregated across worker processes when there are several."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def forget_this_process() -> None:
    """At worker shutdown: drop this process's live gauges from multiprocess scrapes (counters stay)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
