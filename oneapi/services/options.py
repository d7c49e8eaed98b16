"""System options (table ``options``): One API's keys and defaults, validation, and the in-process copy.

Values are strings, as in One API's table (booleans are ``"true"``/``"false"``). Options load at boot (defaults
first, then database rows override) and every ``SYNC_FREQUENCY`` seconds; an update writes the row and this
node's copy at once (other nodes learn it at their next sync).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from oneapi.errors import InvalidInputError
from oneapi.redaction import Secret, redactor
from oneapi.services import ratios
from oneapi.store.facade import Store
from oneapi.store.queries import options as q

log = logging.getLogger("oneapi.options")

QUOTA_PER_UNIT = 500_000.0

DEFAULTS: Mapping[str, str] = {
    "SystemName": "One API", "Logo": "", "Footer": "", "HomePageContent": "", "About": "", "Notice": "",
    "ServerAddress": "", "TopUpLink": "", "ChatLink": "",
    "QuotaPerUnit": "500000", "DisplayInCurrencyEnabled": "true", "DisplayTokenStatEnabled": "true",
    "QuotaForNewUser": "0", "QuotaForInviter": "0", "QuotaForInvitee": "0", "QuotaRemindThreshold": "1000",
    "PreConsumedQuota": "500",
    # oneapi's own: reserve the whole possible answer before calling the upstream (README, Billing).
    "PreConsumeMaxOutput": "false",
    "RegisterEnabled": "true", "PasswordLoginEnabled": "true", "PasswordRegisterEnabled": "true",
    "EmailVerificationEnabled": "false", "EmailDomainRestrictionEnabled": "false",
    "EmailDomainWhitelist": "gmail.com,163.com,126.com,qq.com,outlook.com,hotmail.com,icloud.com,yahoo.com,"
                            "foxmail.com",
    "GitHubOAuthEnabled": "false", "GitHubClientId": "", "GitHubClientSecret": "",
    "WeChatAuthEnabled": "false", "WeChatServerAddress": "", "WeChatServerToken": "",
    "WeChatAccountQRCodeImageURL": "",
    "OidcEnabled": "false", "OidcClientId": "", "OidcClientSecret": "", "OidcWellKnown": "",
    "OidcAuthorizationEndpoint": "", "OidcTokenEndpoint": "", "OidcUserinfoEndpoint": "",
    "LarkClientId": "", "LarkClientSecret": "",
    "TurnstileCheckEnabled": "false", "TurnstileSiteKey": "", "TurnstileSecretKey": "",
    "SMTPServer": "", "SMTPPort": "587", "SMTPAccount": "", "SMTPFrom": "", "SMTPToken": "",
    "MessagePusherAddress": "", "MessagePusherToken": "",
    "AutomaticDisableChannelEnabled": "false", "AutomaticEnableChannelEnabled": "false",
    "ChannelDisableThreshold": "5", "RetryTimes": "0", "ApproximateTokenEnabled": "false",
    "LogConsumeEnabled": "true",
    "ModelRatio": ratios.default_json("ModelRatio"), "CompletionRatio": ratios.default_json("CompletionRatio"),
    "GroupRatio": ratios.default_json("GroupRatio"),
    "Theme": "default",
}

MAX_VALUE_LENGTH = 1 << 20  # 1 MiB: large enough for any ratio table or home page


def is_secret(key: str) -> bool:
    """Secrets are never returned by the API. One API hides keys ending in Token or Secret, which lets
    TurnstileSecretKey through (a quirk we fix: it is hidden too)."""
    return key.endswith(("Token", "Secret", "SecretKey"))


def _is_bool_key(key: str) -> bool:
    return key.endswith("Enabled") or key == "PreConsumeMaxOutput"


def _int_check(low: int, high: int = 1 << 62) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        try:
            number = int(value)
        except ValueError:
            return f"must be an integer, got {value!r}"
        return None if low <= number <= high else f"must be between {low} and {high}, got {number}"

    return check


def _float_check(low: float, high: float = 1e15) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        try:
            number = float(value)
        except ValueError:
            return f"must be a number, got {value!r}"
        if not math.isfinite(number):  # inf and nan parse, but no JSON answer can carry them
            return f"must be a finite number, got {value!r}"
        return None if low < number <= high else f"must be greater than {low:g} and at most {high:g}"

    return check


_VALUE_CHECKS: dict[str, Callable[[str], str | None]] = {
    "QuotaPerUnit": _float_check(0), "QuotaForNewUser": _int_check(0), "QuotaForInviter": _int_check(0),
    "QuotaForInvitee": _int_check(0), "QuotaRemindThreshold": _int_check(0), "PreConsumedQuota": _int_check(0),
    "SMTPPort": _int_check(1, 65535), "ChannelDisableThreshold": _float_check(-1e-9),
    "RetryTimes": _int_check(0, 10),
    "Theme": lambda v: None if v in ("default", "berry", "air") else "must be one of default, berry, air",
}


class Options:
    """This node's copy of the options, with typed getters. Create with :meth:`load`."""

    def __init__(self, store: Store, values: dict[str, str], defaults: Mapping[str, str] | None = None) -> None:
        self._store = store
        self._values = values
        self._parsed: dict[str, int | bool] = {}  # get_bool / get_int results; emptied whenever values change
        self._defaults = {**DEFAULTS, **(defaults or {})}
        self.on_change: list[Callable[[str], Awaitable[None]]] = []  # an option was updated on this node

    @classmethod
    async def load(cls, store: Store, defaults: Mapping[str, str] | None = None) -> Options:
        """``defaults`` override One API's for this process (the THEME env var sets Theme's default)."""
        options = cls(store, {}, defaults)
        await options.reload()
        return options

    async def reload(self) -> None:
        values = dict(self._defaults)
        values.update(await self._store.read(q.load_all))
        redactor.register_many(v for k, v in values.items() if is_secret(k))
        self._values = values
        self._parsed = {}

    # -- typed reads (the hot path reads these; no I/O) -----------------------------------------

    def get(self, key: str) -> str:
        return self._values.get(key, DEFAULTS.get(key, ""))

    def get_bool(self, key: str) -> bool:
        # Parsed once per value: the relay reads a few switches and numbers on every request.
        value = self._parsed.get(key)
        if value is None:
            value = self._parsed[key] = self.get(key).strip().lower() == "true"
        return bool(value)

    def get_int(self, key: str) -> int:
        value = self._parsed.get(key)
        if value is None:
            try:
                value = int(float(self.get(key)))
            except ValueError:
                value = int(float(DEFAULTS.get(key, "0") or 0))
            self._parsed[key] = value
        return int(value)

    def get_float(self, key: str) -> float:
        try:
            return float(self.get(key))
        except ValueError:
            return float(DEFAULTS.get(key, "0") or 0)

    def public_items(self) -> list[dict[str, str]]:
        """Every option except secrets, as One API's ``[{key, value}]``."""
        return [{"key": k, "value": v} for k, v in sorted(self._values.items()) if not is_secret(k)]

    # -- updates ----------------------------------------------------------------------------------

    def validate(self, key: str, value: Any) -> str:
        """Normalise and check one update; raises InvalidInputError naming the problem."""
        if not isinstance(key, str) or key not in DEFAULTS:
            raise InvalidInputError(f"unknown option {key!r}")
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (int, float)):
            value = str(value)
        if not isinstance(value, str):
            raise InvalidInputError(f"option {key}: value must be a string")
        if len(value) > MAX_VALUE_LENGTH:
            raise InvalidInputError(f"option {key}: value is longer than {MAX_VALUE_LENGTH} characters")
        if _is_bool_key(key):
            lowered = value.strip().lower()
            if lowered not in ("true", "false"):
                raise InvalidInputError(f"option {key} must be true or false, got {value!r}")
            value = lowered
            if value == "true":
                self._check_enabling(key)
        if key in ratios.RATIO_OPTIONS:
            try:
                ratios.parse_ratio_map(key, value)
            except ValueError as exc:
                raise InvalidInputError(str(exc)) from None
        check = _VALUE_CHECKS.get(key)
        problem = check(value.strip()) if check else None
        if problem:
            raise InvalidInputError(f"option {key} {problem}")
        if key == "EmailDomainWhitelist" and self.get_bool("EmailDomainRestrictionEnabled") and not value.strip():
            raise InvalidInputError("EmailDomainWhitelist cannot be empty while the restriction is enabled")
        return value.strip() if check else value

    def _check_enabling(self, key: str) -> None:
        # One API refuses to switch on a login method whose settings are missing (SPEC 2.2 option).
        needs = {"GitHubOAuthEnabled": ("GitHubClientId", "GitHub client id"),
                 "WeChatAuthEnabled": ("WeChatServerAddress", "WeChat server address"),
                 "TurnstileCheckEnabled": ("TurnstileSiteKey", "Turnstile site key"),
                 "EmailDomainRestrictionEnabled": ("EmailDomainWhitelist", "email domain whitelist"),
                 "OidcEnabled": ("OidcClientId", "OIDC client id")}
        if key in needs and not self.get(needs[key][0]).strip():
            raise InvalidInputError(f"cannot enable {key}: set the {needs[key][1]} ({needs[key][0]}) first")

    async def update(self, key: str, value: Any) -> str:
        value = self.validate(key, value)
        if is_secret(key):
            redactor.register(value)
            value = Secret(value)  # masked in DEBUG_SQL's lines
        await self._store.write(q.save, key, value)
        value = str(value)
        self._values[key] = value
        self._parsed.pop(key, None)
        log.info("option %s updated", key)
        for listener in self.on_change:
            try:
                await listener(key)
            except Exception:  # telling the other nodes is best effort: they reload on SYNC_FREQUENCY anyway
                log.exception("publishing the change of option %s failed", key)
        return value

    def ratio_map(self, key: str) -> dict[str, float]:
        try:
            return ratios.parse_ratio_map(key, self.get(key))
        except ValueError:
            log.error("stored option %s is invalid; using defaults", key)
            return ratios.parse_ratio_map(key, DEFAULTS[key])

    def display(self, quota: int) -> str:
        """A quota as One API shows it in logs: dollars when DisplayInCurrencyEnabled, else points."""
        if self.get_bool("DisplayInCurrencyEnabled"):
            return f"＄{quota / self.get_float('QuotaPerUnit'):.6f} 额度"
        return f"{quota} 点额度"
