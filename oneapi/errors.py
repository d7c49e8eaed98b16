"""One exception tree for every door.

Each class knows its HTTP status and its OpenAI-style ``type``/``code``; the doors map it once:
``/api`` middleware into One API's ``{success, message, data}`` envelope, the relay into the OpenAI
error object, the CLI into an exit code and one line on stderr, the TUI into a notification.
Services raise these; nothing else should reach a door.
"""

from __future__ import annotations

from typing import Any, ClassVar


class OneAPIError(Exception):
    """Base of every error oneapi reports to a caller. ``str(err)`` is the message."""

    status: ClassVar[int] = 500
    error_type: ClassVar[str] = "one_api_error"
    default_code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 param: str = "", error_type: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.http_status = status or self.status
        self.param = param
        self.type = error_type or self.error_type
        # What the operator needs and the caller must not see (an upstream's address, an exception's text):
        # logged and published as an event, never answered.
        self.detail = ""

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI error object (full shape of SPEC 1.3)."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class InvalidInputError(OneAPIError):
    """The caller sent something we cannot accept: wrong type, missing field, out of range."""

    status = 400
    default_code = "invalid_request"


class NotFoundError(OneAPIError):
    """The id or key names nothing this caller may see."""

    status = 404
    default_code = "not_found"


class AuthenticationError(OneAPIError):
    """No credentials, or credentials that identify nobody."""

    status = 401
    default_code = "unauthorized"


class PermissionDeniedError(OneAPIError):
    """Known caller, but not allowed to do this."""

    status = 403
    default_code = "forbidden"


class ConflictError(OneAPIError):
    """The change collides with existing data (a taken username, a used voucher)."""

    status = 409
    default_code = "conflict"


class OutsideServiceError(OneAPIError):
    """A service outside oneapi that a login method needs (the SMTP server, GitHub, the WeChat Server,
    Turnstile, an OIDC provider) failed or answered nonsense; the message says which, the log says how."""

    status = 502
    default_code = "outside_service_error"


class InsufficientQuotaError(OneAPIError):
    """The user or token cannot pay for this."""

    status = 403
    default_code = "insufficient_user_quota"


class RateLimitedError(OneAPIError):
    """Too many requests from this client."""

    status = 429
    default_code = "rate_limited"


class StoreError(OneAPIError):
    """The database failed; the message is safe to show, details are logged."""

    status = 500
    default_code = "database_error"
