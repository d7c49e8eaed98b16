"""Google Vertex AI (channel type 42): Gemini and Claude models on Vertex, with a service account. Pure, no I/O.

Credentials (https://developers.google.com/identity/protocols/oauth2/service-account#httprest)
--------------------------------------------------------------------------------------------
* The channel key is the service account's JSON key file (One API's config ``vertex_ai_adc`` is read too). Its
  ``client_email`` signs a JWT (RS256, :mod:`.rs256`) ``{iss, scope: cloud-platform, aud, iat, exp}``
  which ``POST {token_uri}`` (``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<jwt>``)
  exchanges for ``{access_token, expires_in}``. The relay runs the exchange
  (:class:`~oneapi.proxy.adaptors.base.CredentialExchange`): cached per key, refreshed before it expires, one
  exchange shared by simultaneous requests, exchanged again once when Vertex answers 401.
* Region and project come from the channel config: ``region`` (default ``us-central1``; ``global`` uses
  ``aiplatform.googleapis.com``) and ``vertex_ai_project_id`` (default: the key's ``project_id``).

Models
------
* ``gemini-*``: ``POST {host}/v1/projects/{project}/locations/{region}/publishers/google/models/{model}:
  generateContent`` (``:streamGenerateContent?alt=sse``) with Gemini's body, built and read by the Gemini
  adaptor (system instructions, tools, JSON mode, images as inline data, GEMINI_SAFETY_SETTING).
* ``claude-*`` (``claude-3-5-sonnet-v2@20241022``...): ``.../publishers/anthropic/models/{model}:rawPredict``
  (``:streamRawPredict``) with the Messages API body less ``model`` plus ``anthropic_version:
  vertex-2023-10-16``, built and read by the Anthropic adaptor. (One API sent Claude to ``publishers/google``.)
* Embeddings (``text-embedding-005``, ``text-multilingual-embedding-002``, ``gemini-embedding-001``...):
  ``.../publishers/google/models/{model}:predict`` with ``{instances: [{content}], parameters:
  {outputDimensionality}}`` → ``predictions[].embeddings.values``, billed by their ``statistics.token_count``.
* Other chat models are refused with a 400.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from oneapi.proxy.adaptors import anthropic
from oneapi.proxy.adaptors.base import (
    EVERY_FORMAT,
    AdaptorBase,
    CredentialExchange,
    RelayRequest,
    StreamTranslator,
    TranslatingAdaptor,
    UpstreamCall,
    Usage,
)
from oneapi.proxy.adaptors.client_request import embedding_texts, requested_encoding
from oneapi.proxy.adaptors.common import compact_json, embedding_list, json_object, openai_error
from oneapi.proxy.adaptors.gemini import GeminiAdaptor
from oneapi.proxy.adaptors.rs256 import PrivateKeyError, jwt, load_pem
from oneapi.proxy.sse import parse_json
from oneapi.wire.channel import RouteChannel
from oneapi.wire.errors import RelayError, UpstreamError

ERROR_TYPE = "vertex_error"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
TOKEN_URI = "https://oauth2.googleapis.com/token"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ANTHROPIC_VERSION = "vertex-2023-10-16"
DEFAULT_REGION = "us-central1"
JWT_LIFETIME = 3600


def _config_error(channel: RouteChannel, message: str) -> UpstreamError:
    return openai_error(500, f"channel #{channel.id} (Vertex AI): {message}", "one_api_error",
                        "channel_config_invalid")


def service_account(channel: RouteChannel) -> dict[str, Any]:
    """The service account's JSON key (the channel key, else config ``vertex_ai_adc``)."""
    text = channel.key.strip() or str(channel.config.get("vertex_ai_adc") or "")
    account = parse_json(text.encode())
    if not isinstance(account, dict) or not all(isinstance(account.get(k), str) and account[k]
                                                for k in ("client_email", "private_key")):
        raise _config_error(channel, "the key must be a service account's JSON key file (with client_email and "
                                     "private_key)")
    return account


def family(model: str) -> str:
    for name in ("gemini", "claude"):
        if model.startswith(name):
            return name
    raise RelayError(f"Vertex AI channels serve gemini-* and claude-* models, not {model!r}", status=400,
                     code="invalid_request")


def endpoint(channel: RouteChannel, model: str, stream: bool, embeddings: bool = False) -> str:
    region = str(channel.config.get("region") or DEFAULT_REGION).strip()
    project = str(channel.config.get("vertex_ai_project_id") or "").strip() or \
        str(service_account(channel).get("project_id") or "")
    if not project:
        raise _config_error(channel, "set vertex_ai_project_id in its config (the key names no project_id)")
    host = channel.base_url.rstrip("/") or ("https://aiplatform.googleapis.com" if region == "global"
                                            else f"https://{region}-aiplatform.googleapis.com")
    if embeddings:
        publisher, action = "google", "predict"
    elif family(model) == "gemini":
        publisher, action = "google", "streamGenerateContent?alt=sse" if stream else "generateContent"
    else:
        publisher, action = "anthropic", "streamRawPredict" if stream else "rawPredict"
    return (f"{host}/v1/projects/{quote(project, safe='')}/locations/{quote(region, safe='')}/publishers/"
            f"{publisher}/models/{quote(model, safe='@')}:{action}")


def embedding_body(request: RelayRequest) -> dict[str, Any]:
    data = request.json or {}
    texts = embedding_texts(data, non_empty=True)
    if texts is None:
        raise RelayError("Vertex AI embeddings take a non-empty string or list of non-empty strings (not token "
                         "arrays)", status=400, code="invalid_request")
    body: dict[str, Any] = {"instances": [{"content": text} for text in texts]}
    dimensions = data.get("dimensions")
    if isinstance(dimensions, int) and not isinstance(dimensions, bool) and dimensions > 0:
        body["parameters"] = {"outputDimensionality": dimensions}
    return body


def parse_embeddings(request: RelayRequest, data: dict[str, Any]) -> tuple[dict[str, Any], Usage | None]:
    """``{predictions: [{embeddings: {values, statistics: {token_count}}}]}`` → OpenAI's list, billed by the
    token counts Vertex reports."""
    predictions = data.get("predictions")
    if not isinstance(predictions, list):
        raise ValueError("the answer has no predictions")
    vectors, tokens = [], 0
    for prediction in predictions:
        embedding = prediction.get("embeddings") if isinstance(prediction, dict) else None
        if not isinstance(embedding, dict) or not isinstance(embedding.get("values"), list):
            raise ValueError("a prediction has no embedding values")
        vectors.append([float(x) for x in embedding["values"]])
        statistics = embedding.get("statistics")
        count = statistics.get("token_count") if isinstance(statistics, dict) else None
        tokens += int(count) if isinstance(count, int | float) and not isinstance(count, bool) else 0
    usage = Usage(tokens, 0)
    return embedding_list(vectors, request.upstream_model, usage, requested_encoding(request)), usage


class VertexAdaptor(AdaptorBase):
    name = "vertexai"
    passthrough = False
    # What both of its families serve (Claude has no n; Gemini's candidateCount is not used here).
    response_formats = EVERY_FORMAT
    serves_tools = True
    serves_images = True
    inline_images = True

    def __init__(self, gemini: GeminiAdaptor) -> None:
        self._gemini = gemini

    def _inner(self, model: str) -> TranslatingAdaptor:
        return self._gemini if family(model) == "gemini" else anthropic.ADAPTOR

    # CredentialExchange
    def credential_request(self, channel: RouteChannel, now: float | None = None) -> UpstreamCall:
        account = service_account(channel)
        issued = int(time.time() if now is None else now)
        token_uri = str(account.get("token_uri") or TOKEN_URI)
        try:
            key = load_pem(account["private_key"])
        except PrivateKeyError as exc:
            raise _config_error(channel, f"the key's private_key is unusable: {exc}") from None
        # aud is Google's token endpoint "always" (Google's words), even when token_uri names another address.
        assertion = jwt(key, {"iss": account["client_email"], "scope": SCOPE, "aud": TOKEN_URI, "iat": issued,
                              "exp": issued + JWT_LIFETIME}, str(account.get("private_key_id") or ""))
        return UpstreamCall("POST", token_uri, {"Content-Type": "application/x-www-form-urlencoded",
                                                "Accept": "application/json"},
                            urlencode({"grant_type": GRANT_TYPE, "assertion": assertion}).encode())

    def parse_credential(self, status: int, body: bytes) -> tuple[str, float]:
        data = parse_json(body)
        data = data if isinstance(data, dict) else {}
        token = data.get("access_token")
        if status == 200 and isinstance(token, str) and token:
            lifetime = data.get("expires_in")
            return token, float(lifetime) if isinstance(lifetime, int | float) and lifetime > 0 else 3600.0
        # {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}: the key is wrong or revoked.
        reason = str(data.get("error_description") or data.get("error") or f"status {status}")
        result = status if status == 429 or status >= 500 else 401
        raise openai_error(result, f"Google refused the service account: {reason}", ERROR_TYPE,
                           str(data.get("error") or "token_exchange_failed"))

    def credential_rejected(self, error: Exception) -> bool:
        return isinstance(error, UpstreamError) and error.http_status == 401

    # TranslatingAdaptor
    def build(self, channel: RouteChannel, request: RelayRequest) -> UpstreamCall:
        model = request.upstream_model
        headers = {"Authorization": f"Bearer {request.credential}", "Content-Type": "application/json",
                   "Accept": "text/event-stream" if request.stream else "application/json"}
        if request.mode == "embeddings":
            return UpstreamCall("POST", endpoint(channel, model, False, embeddings=True), headers,
                                compact_json(embedding_body(request)))
        if request.mode != "chat":
            raise RelayError(f"Vertex AI channels serve chat completions and embeddings, not {request.mode}",
                             status=501, code="mode_not_supported")
        if family(model) == "gemini":
            body = self._gemini.chat_body(request, model, system_instruction=True)
        else:
            body = {"anthropic_version": ANTHROPIC_VERSION,
                    **{k: v for k, v in anthropic.request_body(request).items() if k != "model"}}
        return UpstreamCall("POST", endpoint(channel, model, request.stream), headers, compact_json(body))

    def parse_response(self, request: RelayRequest, body: bytes) -> tuple[dict[str, Any], Usage | None]:
        if request.mode == "embeddings":
            return parse_embeddings(request, json_object(body))
        return self._inner(request.upstream_model).parse_response(request, body)

    def stream_translator(self, request: RelayRequest) -> StreamTranslator:
        return self._inner(request.upstream_model).stream_translator(request)

    def error(self, status: int, body: bytes) -> Exception:
        """Vertex answers errors in Google's shape for every model (its front end refuses first)."""
        data = parse_json(body)
        if isinstance(data, list) and data:
            data = data[0]
        if isinstance(data, dict) and isinstance(data.get("error"), dict) and "code" in data["error"]:
            error = data["error"]
            return openai_error(status, str(error.get("message") or f"bad response status code {status}"),
                                ERROR_TYPE, str(error.get("status") or status))
        return self._gemini.error(status, body)


def make_adaptor(safety: str = "BLOCK_NONE") -> VertexAdaptor:
    """The adaptor for a server's configuration (GEMINI_SAFETY_SETTING for Gemini models)."""
    return VertexAdaptor(GeminiAdaptor("v1", safety or "BLOCK_NONE"))


ADAPTOR = make_adaptor()

if TYPE_CHECKING:  # mypy checks that the adaptor meets both protocols the relay relies on
    _CHECKED: tuple[TranslatingAdaptor, CredentialExchange] = (ADAPTOR, ADAPTOR)
