"""Sending e-mail over SMTP (aiosmtplib): codes, reset links.

One API's options say where: ``SMTPServer``, ``SMTPPort``, ``SMTPAccount``, ``SMTPFrom`` (empty: the account),
``SMTPToken`` (the password). Port 465 speaks TLS from the first byte; any other port upgrades with STARTTLS
when the server offers it, and insists on it before sending a password (One API's Go client refuses plain-text
passwords too). Certificates are checked, against the system's authorities or ``ONEAPI_SMTP_CA_FILE`` (read at
every send; the configuration checks it at start-up).
Every send is bounded by ``ONEAPI_OUTBOUND_TIMEOUT``. A failure is one log line for the operator (server,
port, the SMTP server's words) and an :class:`OutsideServiceError` for the person waiting for the mail; when
nobody may wait for it (the reset page), :class:`Outbox` sends it after the answer.
"""

from __future__ import annotations

import asyncio
import html
import logging
import ssl
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid

import aiosmtplib

from oneapi.config import Config
from oneapi.errors import OneAPIError, OutsideServiceError, PermissionDeniedError
from oneapi.services.options import Options

log = logging.getLogger("oneapi.mail")


def configured(options: Options) -> bool:
    return bool(options.get("SMTPServer").strip() and (options.get("SMTPFrom") or options.get("SMTPAccount")))


def require_configured(options: Options) -> None:
    if not configured(options):
        raise PermissionDeniedError("管理员未配置邮件服务 (the administrator has not set up e-mail: SMTPServer and "
                                    "SMTPFrom or SMTPAccount)")


def build(options: Options, to: str, subject: str, paragraphs: list[str], highlight: str = "",
          link: str = "") -> EmailMessage:
    """A plain-text message with an HTML alternative; every value is escaped in the HTML part."""
    sender = (options.get("SMTPFrom") or options.get("SMTPAccount")).strip()
    message = EmailMessage()
    message["From"] = formataddr((options.get("SystemName") or "One API", sender))
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    text = "\n\n".join([*paragraphs, *([highlight] if highlight else []), *([link] if link else [])])
    message.set_content(text + "\n")
    parts = [f"<p>{html.escape(p)}</p>" for p in paragraphs]
    if highlight:
        parts.append(f'<p style="font-size:24px;font-weight:bold;letter-spacing:2px">{html.escape(highlight)}</p>')
    if link:
        parts.append(f'<p><a href="{html.escape(link)}">{html.escape(link)}</a></p>')
    message.add_alternative("<!doctype html><html><body>" + "".join(parts) + "</body></html>", subtype="html")
    return message


async def send(config: Config, options: Options, message: EmailMessage) -> None:
    require_configured(options)
    server, port = options.get("SMTPServer").strip(), options.get_int("SMTPPort") or 587
    account, password = options.get("SMTPAccount").strip(), options.get("SMTPToken")
    try:
        # (inside the try: the CA file, checked at start-up, may have gone or gone bad since)
        context = ssl.create_default_context(cafile=config.smtp_ca_file or None)
        await aiosmtplib.send(
            message, hostname=server, port=port, username=account or None, password=password or None,
            use_tls=port == 465, start_tls=None if port == 465 or not (account or password) else True,
            tls_context=context, timeout=config.outbound_timeout)
    except (aiosmtplib.SMTPException, OSError, TimeoutError, ssl.SSLError, ValueError) as exc:
        log.error("sending e-mail to %s through %s:%d failed: %s", message["To"], server, port,
                  str(exc) or type(exc).__name__)
        raise OutsideServiceError("邮件发送失败，请稍后重试或联系管理员 (the e-mail could not be sent; try again later "
                                  "or tell the administrator)") from None
    log.info("e-mail %r sent to %s", message["Subject"], message["To"])


class Outbox:
    """Mail sent after the answer: the reset page must not wait for it, or its timing (and a failed send)
    would tell whether an account uses the address. Each send is a task kept until it ends (its failure is
    :func:`send`'s log line); at shutdown those still running get one more send timeout, then are cancelled."""

    def __init__(self) -> None:
        self._sending: set[asyncio.Task[None]] = set()

    def send_later(self, config: Config, options: Options, message: EmailMessage) -> None:
        task = asyncio.get_running_loop().create_task(self._send(config, options, message))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    @staticmethod
    async def _send(config: Config, options: Options, message: EmailMessage) -> None:
        try:
            await send(config, options, message)
        except OneAPIError:
            pass  # send() logged it; nobody is waiting for the answer
        except Exception:
            log.exception("sending e-mail to %s failed", message["To"])

    async def close(self, timeout: float) -> None:
        if not self._sending:
            return
        _, late = await asyncio.wait(set(self._sending), timeout=timeout)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
