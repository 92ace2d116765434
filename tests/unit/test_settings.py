from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.infrastructure.config import Settings


def test_request_threads_must_fit_in_the_database_pool() -> None:
    assert Settings(request_threads=8, db_pool_size=10).request_threads == 8
    with pytest.raises(ValidationError, match="ML_DB_POOL_SIZE of at least 12"):
        Settings(request_threads=10, db_pool_size=10)


def test_an_empty_database_url_says_how_to_get_the_default() -> None:
    with pytest.raises(ValidationError, match="unset it for the embedded SQLite default"):
        Settings(database_url=" ")
