from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.infrastructure.config import Settings


def test_an_empty_database_url_says_how_to_get_the_default() -> None:
    with pytest.raises(ValidationError, match="unset it for the embedded SQLite default"):
        Settings(database_url=" ")
