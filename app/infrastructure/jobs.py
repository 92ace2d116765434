"""How a batch job ends on an error: one line saying what went wrong and what to do, exit code 1,
and the traceback only with `--debug`."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from sqlalchemy import exc as sa_exc

from app.shared.exceptions import StorageUnavailable

_NO_SCHEMA = ("no such table", "does not exist", "undefinedtable", "service_meta")
_UNREACHABLE = ("connection refused", "could not connect", "connect call failed", "timeout", "unable to open")


def advice(error: BaseException) -> str:
    """The error in one line, with what to do when the cause is a common one."""
    text = " ".join(str(error).split()) or type(error).__name__
    lowered = f"{type(error).__name__} {text}".lower()
    if isinstance(error, sa_exc.SQLAlchemyError | StorageUnavailable | OSError):
        if any(marker in lowered for marker in _NO_SCHEMA):
            return (
                f"the database has no schema (or an old one): run `uv run ml-service migrate` ({text[:200]})"
            )
        if any(marker in lowered for marker in _UNREACHABLE):
            return f"cannot reach the database: check DATABASE_URL and that the server runs ({text[:200]})"
    return text[:500]


def run_job(name: str, main: Callable[[list[str]], int | None], argv: Sequence[str] | None = None) -> int:
    """Runs `main(argv)`; an exception becomes one line on stderr and exit code 1."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if debug:
        args.remove("--debug")
    try:
        return int(main(args) or 0)
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if debug:
            raise
        print(f"{name} failed: {advice(error)} (--debug shows the traceback)", file=sys.stderr)
        return 1
