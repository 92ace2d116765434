"""Settings: one pydantic-settings object, built only by the composition root."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SQLITE_PATH = PROJECT_ROOT / "data" / "ml_service.db"


def default_database_url() -> str:
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


class InteractionWeights(BaseModel):
    view: float = Field(1.0, ge=0)
    click: float = Field(2.0, ge=0)
    like: float = Field(5.0, ge=0)
    share: float = Field(10.0, ge=0)

    def as_dict(self) -> dict[str, float]:
        return {"view": self.view, "click": self.click, "like": self.like, "share": self.share}


class BlendWeights(BaseModel):
    cf: float = Field(0.7, ge=0)
    content: float = Field(0.2, ge=0)
    recency: float = Field(0.1, ge=0)


EngineName = Literal["user_knn", "ease"]


class ModelSettings(BaseModel):
    models_dir: Path = PROJECT_ROOT / "models"
    n_neighbors: int = Field(100, ge=1, le=1000)
    engines: list[EngineName] = Field(
        default_factory=lambda: list[EngineName](["user_knn", "ease"]),
        min_length=1,
        description="engines training fits; the best on the held-out split is the candidate",
    )
    recency_half_life_hours: float = Field(72.0, gt=0)
    reload_interval_seconds: float = Field(5.0, ge=0, description="0 disables the registry watch")


class ValidationThresholds(BaseModel):
    """What `training.validate_model` demands of the active model's held-out metrics."""

    min_ndcg_at_10: float = Field(0.0, ge=0, le=1)
    min_lift_over_popularity: float = Field(1.0, ge=0, description="ndcg@10 / popularity's ndcg@10")


class Settings(BaseSettings):
    """Every setting of the service. Environment variables use the ML_ prefix, except DATABASE_URL."""

    model_config = SettingsConfigDict(
        env_prefix="ML_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        populate_by_name=True,
    )

    database_url: str = Field(
        default_factory=default_database_url,
        validation_alias="DATABASE_URL",
        description="SQLAlchemy URL; an embedded SQLite file by default, postgresql://... in production",
    )
    db_connect_timeout_seconds: float = Field(2.0, gt=0, description="to make a PostgreSQL connection")
    db_statement_timeout_ms: int = Field(
        2000,
        gt=0,
        description="PostgreSQL's statement_timeout; a database call (its wait for a connection"
        " included) gives up, a 503, half a second after it",
    )
    db_health_timeout_ms: int = Field(
        500, gt=0, description="the longest /health and /health/ready wait for the database's answer"
    )
    db_pool_size: int = Field(
        4,
        ge=1,
        description="PostgreSQL connections per worker in each of two pools: one for feed reads,"
        " one for writes (tracked batches, stored lists)",
    )
    request_threads: int = Field(
        1,
        ge=1,
        description="model rankings (and, on SQLite, database calls) running in threads at once"
        " per worker; more wait their turn",
    )
    auto_migrate: bool = Field(
        True, description="migrate an embedded SQLite database at start; PostgreSQL is migrated by alembic"
    )

    weights: InteractionWeights = InteractionWeights()
    blend: BlendWeights = BlendWeights()
    model: ModelSettings = ModelSettings()
    validation: ValidationThresholds = ValidationThresholds()

    recommendation_ttl_seconds: int = Field(3600, ge=0, description="0 disables precomputed rows")
    precompute_top_n: int = Field(200, ge=1, le=1000)
    cursor_ttl_seconds: int = Field(
        3600, ge=1800, description="a served list stays readable for its cursors at least half this long"
    )
    kept_lists: int = Field(
        2000, ge=0, description="stored lists each worker keeps in memory (about 17 kB each); 0 disables"
    )
    trending_window_hours: float = Field(72.0, gt=0)
    trending_cache_seconds: float = Field(30.0, ge=0)
    cleanup_interval_seconds: float = Field(600.0, ge=0, description="0 disables the cleanup loop")

    api_key: str | None = Field(None, validation_alias="ML_SERVICE_API_KEY")
    cors_origins: list[str] = []
    max_body_bytes: int = Field(1_048_576, ge=1024)
    docs_public: bool = Field(
        False, description="with ML_SERVICE_API_KEY set, serve /docs, /redoc and /openapi.json without it"
    )
    # Enforced by app.presentation.http_protocol, the HTTP protocol every start command passes to uvicorn.
    max_header_bytes: int = Field(
        65_536, ge=8192, description="a request line and headers over this get 414 or 431, unread"
    )
    max_header_count: int = Field(100, ge=16, description="more header fields get 431")
    header_timeout_seconds: float = Field(
        10.0, gt=0, description="a request's line and headers must arrive within this, a new connection's too"
    )
    min_body_bytes_per_second: int = Field(
        65_536,
        ge=1024,
        description="a body must arrive within header_timeout_seconds plus max_body_bytes at this rate",
    )
    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("database_url")
    @classmethod
    def _database_url_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("DATABASE_URL is empty: unset it for the embedded SQLite default")
        return value.strip()
