"""The WeChat channel's configuration, taken from :class:`core.config.Settings` once, at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from core.config import Settings

__all__ = ["PROVIDER", "WeChatConfig"]

PROVIDER = "wechat_pay"
WINDOW = timedelta(hours=48)
QUOTA = 5


@dataclass(frozen=True)
class WeChatConfig:
    app_id: str
    app_secret: str = field(repr=False)
    token: str = field(repr=False)
    aes_key: str | None = field(default=None, repr=False)
    api_url: str = "https://api.weixin.qq.com"
    oauth_url: str = "https://open.weixin.qq.com/connect/oauth2/authorize"
    public_base_url: str | None = None
    mch_id: str | None = None
    pay_api_key: str | None = field(default=None, repr=False)
    pay_api_url: str = "https://api.mch.weixin.qq.com"
    pay_cert: str | None = None
    pay_key: str | None = None
    template_payment: str | None = None
    template_reminder: str | None = None
    ios_block: bool = False
    reply_deadline: float = 4.5  # seconds: WeChat gives up (and retries) at 5
    follow_up_delay: float = 0.3  # seconds between the passive reply and the customer-service messages after it
    protect_lessons: bool = True
    media_dir: Path = Path("./var/media")  # where images users send are stored (Settings.media_dir)

    @property
    def pay_enabled(self) -> bool:
        return self.mch_id is not None and self.pay_api_key is not None

    @classmethod
    def from_settings(cls, s: Settings) -> WeChatConfig:
        if s.wechat_app_id is None or s.wechat_app_secret is None or s.wechat_token is None:
            raise ValueError("WeChat needs WECHAT_APP_ID, WECHAT_APP_SECRET and WECHAT_TOKEN")
        pay = s.wechat_pay_mch_id is not None and s.wechat_pay_api_key is not None
        if pay and s.public_base_url is None:
            raise ValueError(
                "WeChat Pay needs PUBLIC_BASE_URL: WeChat posts payment results to <PUBLIC_BASE_URL>/wechat/pay/notify"
            )
        return cls(
            app_id=s.wechat_app_id,
            app_secret=s.wechat_app_secret.get_secret_value(),
            token=s.wechat_token.get_secret_value(),
            aes_key=s.wechat_aes_key.get_secret_value() if s.wechat_aes_key else None,
            api_url=s.wechat_api_url.rstrip("/"),
            oauth_url=s.wechat_oauth_url,
            public_base_url=s.public_base_url.rstrip("/") if s.public_base_url else None,
            mch_id=s.wechat_pay_mch_id,
            pay_api_key=s.wechat_pay_api_key.get_secret_value() if s.wechat_pay_api_key else None,
            pay_api_url=s.wechat_pay_api_url.rstrip("/"),
            pay_cert=str(s.wechat_pay_cert) if s.wechat_pay_cert else None,
            pay_key=str(s.wechat_pay_key) if s.wechat_pay_key else None,
            template_payment=s.wechat_template_payment,
            template_reminder=s.wechat_template_reminder,
            ios_block=s.wechat_ios_virtual_goods == "block",
            protect_lessons=s.telegram_protect_content,
            media_dir=s.media_dir,
        )
