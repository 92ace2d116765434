"""Property-based fuzzing of the served OpenAPI schema against the running server, with every
check schemathesis has: never a 5xx, every status, content type and body as documented, valid
data accepted and invalid data refused.

schemathesis' pytest integration cannot take a schema from a fixture under this pytest version, so
each operation's hypothesis strategy is driven here directly, for valid and for invalid data.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.core.result import Ok

from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.e2e

EXAMPLES_PER_OPERATION = 50


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_no_generated_request_gets_a_server_error(server: ServerProcess, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    checks = schema.config.checks
    # A body over ML_MAX_BODY_BYTES is refused too, with 413.
    checks.negative_data_rejection.expected_statuses = [
        *checks.negative_data_rejection.expected_statuses,
        "413",
    ]
    # Text PostgreSQL cannot store (NUL, a lone UTF-16 surrogate) is refused with 422: JSON Schema
    # has no portable way to say so (an ECMA pattern over surrogates would refuse emoji too).
    checks.positive_data_acceptance.expected_statuses = [
        *checks.positive_data_acceptance.expected_statuses,
        "422",
    ]
    failures: list[str] = []
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the served schema has an invalid operation: {result.err()}"
        operations.append(result.ok())
    assert len(operations) >= 5

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: Case[Any]) -> None:
            response = case.call(base_url=server.base_url, timeout=30)
            case.validate_response(response)  # every check schemathesis has

        try:
            fuzz()
        except Unsatisfiable:  # nothing to make invalid: an operation without parameters or body
            assert mode is GenerationMode.NEGATIVE, operation.label
        except Exception as error:  # report every failing operation, not just the first
            failures.append(f"{operation.label}: {error}")

    assert not failures, "\n\n".join(failures)
