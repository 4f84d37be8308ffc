"""All configuration in one place, read from the environment (and a `.env` file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
DEV_SECRET = "development-only-secret-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    env: str = Field("development", alias="PODIUM_ENV")
    database_url: str = Field("", alias="DATABASE_URL")
    redis_url: str = Field("", alias="REDIS_URL")
    secret_key: str = Field(DEV_SECRET, alias="PODIUM_SECRET_KEY")
    data_dir: Path = Field(ROOT / "data", alias="PODIUM_DATA_DIR")
    base_url: str = Field("http://127.0.0.1:8000", alias="PODIUM_BASE_URL")
    # The contact address of the Open Badges issuer profile; empty: badges@<host of base_url>.
    issuer_email: str = Field("", alias="PODIUM_ISSUER_EMAIL")
    # smtp://user:password@host:587?starttls=1&from=podium@example.com (smtps:// for TLS on
    # connect). Empty: emails are printed to the console instead (app/mail.py).
    smtp_url: str = Field("", alias="PODIUM_SMTP_URL")
    max_events_per_request: int = Field(1000, alias="PODIUM_MAX_EVENTS_PER_REQUEST")
    max_body_bytes: int = Field(2 * 1024 * 1024, alias="PODIUM_MAX_BODY_BYTES")
    max_upload_bytes: int = Field(20 * 1024 * 1024, alias="PODIUM_MAX_UPLOAD_BYTES")
    # How stale a board may be when written by another process (this process's writes show
    # at once): views look at the ledger at most this often.
    board_refresh_seconds: float = Field(0.1, alias="PODIUM_BOARD_REFRESH_SECONDS")
    # How far in the future an event's occurred_at may be (clock skew between systems).
    future_tolerance_seconds: int = Field(300, alias="PODIUM_FUTURE_TOLERANCE_SECONDS")
    # Personal live toasts ("… passed you"): at most one per participant per this many seconds.
    alert_min_seconds: float = Field(60.0, alias="PODIUM_ALERT_MIN_SECONDS")

    @model_validator(mode="after")
    def _refuse_default_secret_outside_development(self) -> Settings:
        if self.env != "development" and self.secret_key == DEV_SECRET:
            raise ValueError("PODIUM_SECRET_KEY must be set outside development")
        return self

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'podium.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def templates_dir(self) -> Path:
        return ROOT / "templates"

    @property
    def static_dir(self) -> Path:
        return ROOT / "static"


@lru_cache
def get_settings() -> Settings:
    return Settings()
