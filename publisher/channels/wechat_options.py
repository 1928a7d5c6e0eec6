"""The options of the WeChat channel (``channel_options["wechat"]``), read and checked once.

The app secret and the callback token are credentials: they are kept out of
this object's repr, and so out of every log line and error that shows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from publisher.channels.base import PermanentChannelError

__all__ = ["DEFAULT_BASE_URL", "WechatOptions"]

DEFAULT_BASE_URL = "https://api.weixin.qq.com"
DEFAULT_RATE = 50.0
DEFAULT_CONCURRENCY = 8
DEFAULT_TIMEOUT = 10.0
DEFAULT_THROTTLE_ATTEMPTS = 5


def _error(key: str, reason: str) -> PermanentChannelError:
    return PermanentChannelError(f"channel_options.wechat.{key}: {reason}")


def _text(options: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = options.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise _error(key, "required: a non-empty string")
    return value.strip()


def _number(options: Mapping[str, Any], key: str, default: float, *, whole: bool = False,
            minimum: float = 0.0) -> float:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= minimum \
            or (whole and not isinstance(value, int)):
        kind = "a whole number" if whole else "a number"
        raise _error(key, f"{value!r} is not {kind} above {minimum:g}")
    return float(value)


def _template_ids(options: Mapping[str, Any]) -> Mapping[str, str]:
    value = options.get("template_ids", {})
    if not isinstance(value, Mapping) or not all(
            isinstance(language, str) and isinstance(template_id, str) and template_id.strip()
            for language, template_id in value.items()):
        raise _error("template_ids", "must be a table of language = template id")
    return MappingProxyType({language: template_id.strip()
                             for language, template_id in value.items()})


@dataclass(frozen=True, slots=True)
class WechatOptions:
    """Where the API is, who we are to it, what we send and how fast.

    ``template_id`` is the template every message uses unless
    ``template_ids`` names one for the reader's language. ``callback_token``
    is the token configured for the callback URL in the official account;
    the callback route checks signatures with it.
    """

    appid: str
    secret: str = field(repr=False)
    template_id: str
    template_ids: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    base_url: str = DEFAULT_BASE_URL
    callback_token: str | None = field(default=None, repr=False)
    rate_per_second: float = DEFAULT_RATE
    concurrency: int = DEFAULT_CONCURRENCY
    timeout: float = DEFAULT_TIMEOUT
    throttle_attempts: int = DEFAULT_THROTTLE_ATTEMPTS

    @classmethod
    def read(cls, options: Mapping[str, Any], *, default_rate: float = DEFAULT_RATE
             ) -> WechatOptions:
        """Read and check them; raises PermanentChannelError naming the option at fault."""
        base_url = _text(options, "base_url", DEFAULT_BASE_URL)
        if not base_url.startswith(("http://", "https://")):
            raise _error("base_url", f"{base_url!r} is not an http(s) URL")
        callback_token = options.get("callback_token")
        if callback_token is not None and (not isinstance(callback_token, str)
                                           or not callback_token.strip()):
            raise _error("callback_token", "must be a non-empty string when given")
        return cls(
            appid=_text(options, "appid"), secret=_text(options, "secret"),
            template_id=_text(options, "template_id"), template_ids=_template_ids(options),
            base_url=base_url.rstrip("/"), callback_token=callback_token,
            rate_per_second=_number(options, "rate_per_second", default_rate),
            concurrency=int(_number(options, "concurrency", DEFAULT_CONCURRENCY, whole=True)),
            timeout=_number(options, "timeout", DEFAULT_TIMEOUT),
            throttle_attempts=int(_number(options, "throttle_attempts",
                                          DEFAULT_THROTTLE_ATTEMPTS, whole=True)))

    def template_for(self, language: str) -> str:
        return self.template_ids.get(language, self.template_id)

    def redact(self, text: str) -> str:
        """``text`` with the credentials blanked, should an answer ever echo them."""
        for secret in (self.secret, self.callback_token):
            if secret:
                text = text.replace(secret, "***")
        return text
