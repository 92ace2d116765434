"""Run the API under uvicorn, with shared Prometheus files when there are several workers."""

from __future__ import annotations

import os
import tempfile

# app.main.HTTP_PROTOCOL (not imported: the supervisor of several workers never loads the app):
# the request head and read-time limits uvicorn's own protocols lack.
HTTP_PROTOCOL = "app.presentation.http_protocol:LimitedHttpProtocol"


def serve(host: str, port: int, workers: int, reload: bool) -> None:
    import uvicorn

    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker writes its metric samples here; /metrics adds them up.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="ml-service-metrics-")
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        http=HTTP_PROTOCOL,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        log_config=None,
    )
