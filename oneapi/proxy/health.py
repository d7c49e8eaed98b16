"""Channel health: automatic disabling on errors that mean "this channel will not work" (SPEC 4.3), and the
optional success-rate window (ENABLE_METRIC). Pure decisions here; acting on them is the relay's job."""

from __future__ import annotations

from collections import deque

from oneapi.errors import OneAPIError

_DISABLE_TYPES = {"insufficient_quota", "authentication_error", "permission_error", "forbidden"}
# Arrearage: DashScope's "account in arrears" (a 400), which One API's list predates.
_DISABLE_CODES = {"invalid_api_key", "account_deactivated", "Arrearage"}
_DISABLE_PHRASES = ("your access was terminated", "violation of our policies", "your credit balance is too low",
                    "organization has been disabled", "credit", "balance", "permission denied",
                    "organization has been restricted", "api key not valid", "api key expired", "已欠费")


def should_disable(status: int, error: OneAPIError) -> str | None:
    """Why this error should disable the channel (One API's rules), or None."""
    if status == 401:
        return "upstream answered 401 Unauthorized"
    if error.type in _DISABLE_TYPES:
        return f"upstream error type {error.type}"
    if error.code in _DISABLE_CODES:
        return f"upstream error code {error.code}"
    message = error.message.lower()
    for phrase in _DISABLE_PHRASES:
        if phrase in message:
            return f"upstream said: {error.message[:200]}"
    return None


def is_retryable(status: int) -> bool:
    """SPEC 4.2: 429 and 5xx retry; 400 and 2xx do not; anything else (401/403/404...) retries elsewhere."""
    if status == 429 or status >= 500:
        return True
    return not (status == 400 or 200 <= status < 300)


class SuccessWindow:
    """The last N outcomes per channel (ENABLE_METRIC); bounded by the number of channels."""

    def __init__(self, size: int, threshold: float) -> None:
        self._size = size
        self._threshold = threshold
        self._outcomes: dict[int, deque[bool]] = {}

    def record(self, channel_id: int, success: bool) -> float | None:
        """Add an outcome; the success rate when the window is full and below the threshold, else None."""
        window = self._outcomes.setdefault(channel_id, deque(maxlen=self._size))
        window.append(success)
        if len(window) < self._size:
            return None
        rate = sum(window) / len(window)
        if rate < self._threshold:
            window.clear()
            return rate
        return None

    def forget(self, channel_id: int) -> None:
        self._outcomes.pop(channel_id, None)
