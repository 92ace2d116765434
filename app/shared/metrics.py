"""Prometheus metrics. With PROMETHEUS_MULTIPROC_DIR set (several workers) every process writes
its samples to that directory and a scrape aggregates them."""

from __future__ import annotations

import functools
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


def observe_http(method: str, route: str, status: int, seconds: float) -> None:
    requests, latency = _http_children(method, route, status)
    requests.inc()
    latency.observe(seconds)


def observe_recommendations(source: str, served: int, seconds: float, cache_result: str | None) -> None:
    """One recommendation request; `cache_result` is "hit", "miss" or None (no lookup made)."""
    latency, requests, recommendations = _source_children(source)
    latency.observe(seconds)
    requests.inc()
    recommendations.inc(served)
    if cache_result is not None:
        CACHE_LOOKUPS.labels(cache_result).inc()


# `labels()` validates its arguments and takes a lock on every call; each request would call it
# six times for the same few label sets. Routes are templates, so the sets are few.
@functools.lru_cache(maxsize=1024)
def _http_children(method: str, route: str, status: int) -> tuple[Counter, Histogram]:
    code = str(status)
    return HTTP_REQUESTS.labels(method, route, code), HTTP_LATENCY.labels(method, route, code)


@functools.lru_cache(maxsize=16)
def _source_children(source: str) -> tuple[Histogram, Counter, Counter]:
    return (
        RECOMMENDATION_LATENCY.labels(source),
        RECOMMENDATION_REQUESTS.labels(source),
        RECOMMENDATIONS_SERVED.labels(source),
    )


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
