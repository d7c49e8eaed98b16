"""Images and audio: request checks, multipart handling and transcript extraction (SPEC 5.5). Pure."""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from oneapi.proxy.errors import RelayError
from oneapi.services import pricing

TTS_INPUT_LIMIT = 4096


def bad(message: str, code: str) -> RelayError:
    return RelayError(message, status=400, code=code)


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body) if body.strip() else None
    except (ValueError, UnicodeDecodeError):
        raise bad("request body is not valid JSON", "invalid_request") from None
    except RecursionError:
        raise bad("request body is nested too deeply", "invalid_request") from None
    if not isinstance(data, dict):
        raise bad("request body must be a JSON object", "invalid_request")
    return data


def parse_image_body(body: bytes) -> dict[str, Any]:
    """images/generations: defaults model dall-e-2, n 1, size 1024x1024; SPEC 5.5's limits."""
    data = parse_json_object(body)
    data.setdefault("model", "dall-e-2")
    model, prompt = data.get("model"), data.get("prompt")
    if not isinstance(model, str) or not model:
        raise bad("field model must be a string", "invalid_request")
    n, size, quality = data.get("n", 1), data.get("size", "1024x1024"), data.get("quality", "standard")
    if isinstance(n, bool) or not isinstance(n, int):
        raise bad("field n must be an integer", "n_not_within_range")
    if not isinstance(size, str) or not isinstance(quality, str):
        raise bad("fields size and quality must be strings", "size_not_supported")
    if not isinstance(prompt, str):
        raise bad("field prompt is required", "prompt_missing")
    try:
        pricing.check_image_request(model, prompt, size, n)
    except pricing.ImageRequestError as exc:
        raise bad(str(exc), exc.code) from None
    return data


def parse_speech_body(body: bytes) -> dict[str, Any]:
    data = parse_json_object(body)
    if not isinstance(data.get("model"), str) or not data["model"]:
        raise bad("field model is required", "invalid_request")
    text = data.get("input")
    if not isinstance(text, str) or not text:
        raise bad("field input is required", "invalid_request")
    if len(text) > TTS_INPUT_LIMIT:
        raise bad(f"input is longer than {TTS_INPUT_LIMIT} characters", "text_too_long")
    return data


@dataclass(frozen=True)
class FormPart:
    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None


def parse_form(body: bytes, content_type: str) -> list[FormPart]:
    """The parts of a multipart/form-data body (audio uploads)."""
    if not content_type.lower().startswith("multipart/form-data") or "boundary=" not in content_type:
        raise bad("expected multipart/form-data with a file", "invalid_request")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    parts: list[FormPart] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        filename = part.get_filename()
        payload = part.get_payload(decode=True)
        parts.append(FormPart(name, payload if isinstance(payload, bytes) else b"", filename,
                              part.get_content_type() if filename else None))
    return parts


def form_value(parts: list[FormPart], name: str, default: str = "") -> str:
    for part in parts:
        if part.name == name and part.filename is None:
            return part.data.decode("utf-8", "replace")
    return default


def encode_form(parts: list[FormPart]) -> tuple[bytes, str]:
    """Multipart-encode ``parts``; returns (body, content type with its boundary)."""
    boundary = "oneapi" + secrets.token_hex(12)
    chunks: list[bytes] = []
    for part in parts:
        disposition = f'form-data; name="{part.name}"'
        if part.filename is not None:
            disposition += f'; filename="{part.filename}"'
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        if part.content_type:
            head += f"Content-Type: {part.content_type}\r\n"
        chunks += [head.encode() + b"\r\n", part.data, b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def with_model(parts: list[FormPart], model: str) -> list[FormPart]:
    return [FormPart("model", model.encode()) if p.name == "model" and p.filename is None else p for p in parts]


_SRT_TIMING = re.compile(r"^\d+$|^\d\d:\d\d:\d\d[,.]\d+ --> ")


def transcript_text(response_format: str, body: bytes) -> str:
    """The transcript's words, from any of Whisper's response formats (json, text, srt, vtt, verbose_json)."""
    text = body.decode("utf-8", "replace")
    if response_format in ("", "json", "verbose_json"):
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            return text
        return str(data.get("text") or "") if isinstance(data, dict) else ""
    if response_format in ("srt", "vtt"):
        lines = [line for line in text.splitlines()
                 if line.strip() and line.strip() != "WEBVTT" and not _SRT_TIMING.match(line.strip())]
        return " ".join(lines)
    return text
