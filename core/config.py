"""Settings from environment variables and an optional ``.env`` (pydantic-settings).

Every knob an operator may turn lives here with its default, so that
``python bot.py demo`` needs no configuration at all. Secrets are typed as
``SecretStr`` and never printed; :meth:`Settings.summary` masks them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.users import DEFAULT_TIMEZONE, Ref, valid_timezone

__all__ = ["Settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./var/knowledgesea.db"
    redis_url: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=1, le=65535)
    public_base_url: str | None = None
    admins: str = ""  # comma-separated REFs that are admins at start
    media_dir: Path = Path("./var/media")
    default_timezone: str = DEFAULT_TIMEZONE
    order_ttl_minutes: int = Field(30, ge=1, le=7 * 24 * 60)
    bot_name: str = "KnowledgeSea"
    support_contact: str = "support@example.com"
    log_level: str = "INFO"

    # Telegram (issue 3). Without a token the Telegram channel is off.
    telegram_bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org/bot"  # the token is appended, as in PTB's base_url
    telegram_webhook_secret: SecretStr | None = None
    telegram_provider_token: SecretStr | None = None  # optional fiat provider; Stars need none
    telegram_fiat_currency: str = Field("CNY", pattern=r"^[A-Z]{3}$")  # what the fiat provider collects
    telegram_protect_content: bool = True  # paid lessons can't be forwarded or saved
    telegram_concurrency: int = Field(16, ge=1, le=1024)  # updates processed at once (keep <= the DB pool)

    # WeChat Official Account and WeChat Pay v2 (issue 4). Without an app id the WeChat channel is off.
    wechat_app_id: str | None = None
    wechat_app_secret: SecretStr | None = None
    wechat_token: SecretStr | None = None  # the "Token" of the server configuration (URL verification)
    wechat_aes_key: SecretStr | None = None  # EncodingAESKey: set it for safe mode
    wechat_api_url: str = "https://api.weixin.qq.com"
    wechat_oauth_url: str = "https://open.weixin.qq.com/connect/oauth2/authorize"
    wechat_pay_mch_id: str | None = None
    wechat_pay_api_key: SecretStr | None = None  # the v2 API key (32 characters)
    wechat_pay_api_url: str = "https://api.mch.weixin.qq.com"
    wechat_pay_cert: Path | None = None  # apiclient_cert.pem and apiclient_key.pem: refunds need them
    wechat_pay_key: Path | None = None
    wechat_template_payment: str | None = None  # template notice for "payment received" outside the 48-hour window
    wechat_template_reminder: str | None = None  # template notice for expiry reminders outside the window
    wechat_ios_virtual_goods: Literal["allow", "block"] = "allow"

    # The delivery engine (issue 5): broadcasts, drip lessons, reminders
    delivery_concurrency: int = Field(32, ge=1, le=1024)  # sends in flight per worker
    delivery_batch: int = Field(200, ge=1, le=10_000)  # rows claimed per round
    delivery_lease_seconds: int = Field(120, ge=5, le=3600)  # a dead worker's rows are taken over after this
    telegram_bulk_rate: float = Field(30.0, gt=0, le=30.0)  # msg/s for broadcasts (Telegram's limit: 30)
    telegram_paid_rate: float = Field(1000.0, gt=0, le=1000.0)  # msg/s with allow_paid_broadcast

    # Recommendations (issue 6): the refit and the push run in DEFAULT_TIMEZONE; each learner gets the push at
    # recommend_push_hour on their own clock, at most once per recommend_push_period_days.
    recommend_refit_cron: str = "30 3 * * *"  # crontab: when the models are refitted (nightly at 03:30)
    recommend_push_day: str = Field(
        "mon", pattern=r"^(\*|(mon|tue|wed|thu|fri|sat|sun)(,(mon|tue|wed|thu|fri|sat|sun))*)$"
    )
    recommend_push_hour: int = Field(10, ge=0, le=23)
    recommend_push_period_days: int = Field(7, ge=1, le=366)
    recommend_top_n: int = Field(10, ge=3, le=100)  # courses precomputed per user
    recommend_signal_days: int = Field(365, ge=1, le=3650)  # how far back the refit learns

    # Paid communities and payment jobs
    community_grace_hours: int = Field(24, ge=0, le=30 * 24)  # after expiry, before removal
    community_dry_run: bool = False  # report who would be removed, remove nobody
    reconcile_hours: int = Field(24, ge=1, le=24 * 7)  # how often, and how far back, to reconcile Stars

    @field_validator(
        "telegram_bot_token",
        "telegram_webhook_secret",
        "telegram_provider_token",
        "wechat_app_id",
        "wechat_app_secret",
        "wechat_token",
        "wechat_aes_key",
        "wechat_pay_mch_id",
        "wechat_pay_api_key",
        "wechat_template_payment",
        "wechat_template_reminder",
        "wechat_pay_cert",
        "wechat_pay_key",
        mode="before",
    )
    @classmethod
    def _blank_secret_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("telegram_bot_token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[0-9]{3,15}:[A-Za-z0-9_-]{20,}", value.get_secret_value()):
            raise ValueError("TELEGRAM_BOT_TOKEN must look like 123456789:AA... (ask @BotFather)")
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", value.get_secret_value()):
            raise ValueError("TELEGRAM_WEBHOOK_SECRET must be 16-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("wechat_app_id")
    @classmethod
    def _wechat_app_id(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"wx[0-9a-f]{16}", value):
            raise ValueError("WECHAT_APP_ID must look like wx followed by 16 hex digits (mp.weixin.qq.com → 基本配置)")
        return value

    @field_validator("wechat_token")
    @classmethod
    def _wechat_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9]{3,32}", value.get_secret_value()):
            raise ValueError("WECHAT_TOKEN must be 3-32 letters or digits, as in the server configuration")
        return value

    @field_validator("wechat_aes_key")
    @classmethod
    def _wechat_aes_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9]{43}", value.get_secret_value()):
            raise ValueError("WECHAT_AES_KEY (EncodingAESKey) must be 43 letters or digits")
        return value

    @field_validator("wechat_pay_mch_id")
    @classmethod
    def _mch_id(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9]{6,16}", value):
            raise ValueError("WECHAT_PAY_MCH_ID must be the merchant number (digits)")
        return value

    @field_validator("wechat_pay_api_key")
    @classmethod
    def _pay_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9]{32}", value.get_secret_value()):
            raise ValueError("WECHAT_PAY_API_KEY must be the 32-character API v2 key")
        return value

    @model_validator(mode="after")
    def _wechat_complete(self) -> Settings:
        if self.wechat_app_id and (self.wechat_app_secret is None or self.wechat_token is None):
            raise ValueError("WECHAT_APP_ID needs WECHAT_APP_SECRET and WECHAT_TOKEN too")
        if (self.wechat_pay_mch_id is None) != (self.wechat_pay_api_key is None):
            raise ValueError("WeChat Pay needs both WECHAT_PAY_MCH_ID and WECHAT_PAY_API_KEY")
        if self.wechat_pay_mch_id and not self.wechat_app_id:
            raise ValueError("WeChat Pay needs the Official Account too (WECHAT_APP_ID)")
        if (self.wechat_pay_cert is None) != (self.wechat_pay_key is None):
            raise ValueError("WECHAT_PAY_CERT and WECHAT_PAY_KEY go together")
        return self

    @field_validator("telegram_api_url", "public_base_url", "wechat_api_url", "wechat_pay_api_url", "wechat_oauth_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @field_validator("redis_url", "public_base_url", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("recommend_refit_cron")
    @classmethod
    def _crontab(cls, value: str) -> str:
        fields = value.split()
        if len(fields) != 5 or not all(re.fullmatch(r"[0-9A-Za-z*/,\-]+", f) for f in fields):
            raise ValueError(f"{value!r} is not a crontab expression (minute hour day month weekday)")
        return " ".join(fields)

    @field_validator("default_timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        if not valid_timezone(value):
            raise ValueError(f"unknown timezone {value!r}")
        return value

    @field_validator("admins")
    @classmethod
    def _admins(cls, value: str) -> str:
        for part in filter(None, (p.strip() for p in value.split(","))):
            Ref.parse(part)  # raises with a clear message
        return value

    def admin_refs(self) -> list[Ref]:
        return [Ref.parse(p) for p in (p.strip() for p in self.admins.split(",")) if p]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def summary(self) -> dict[str, str]:
        """The configuration as safe to log: passwords in URLs and secrets masked."""
        out: dict[str, str] = {}
        for name, value in self.model_dump().items():
            if isinstance(value, SecretStr):
                out[name] = "***" if value.get_secret_value() else ""
            elif isinstance(value, str) and "://" in value and "@" in value:
                scheme, _, rest = value.partition("://")
                creds, _, host = rest.rpartition("@")
                user = creds.split(":", 1)[0]
                out[name] = f"{scheme}://{user}:***@{host}" if ":" in creds else value
            else:
                out[name] = "" if value is None else str(value)
        return out
