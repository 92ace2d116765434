"""The framework's floor: a FastAPI app whose one endpoint returns a constant.

Served by uvicorn with the same workers as the service, it shows what FastAPI, uvicorn and the
load generator cost on this machine before the service does any work.
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.get("/constant")
def constant() -> dict[str, str]:
    """A plain `def`, like the service's handlers: it runs in the same threadpool."""
    return {"status": "ok"}
