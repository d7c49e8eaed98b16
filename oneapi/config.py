"""The one settings object.

Precedence, lowest first: the defaults declared below < the YAML file (``--config``, else
``./config.yaml`` when present) < environment variables with One API's names < CLI flags.

Every setting is declared once, as a field of :class:`Config` whose metadata carries its env var,
its one-line documentation and its check. The README table and ``config.example.yaml`` are checked
against these declarations by a test, so adding a field without documenting it fails CI.

``load()`` is pure: it takes the YAML text, an environment mapping and the CLI flags, and either
returns a frozen :class:`Config` or raises :class:`ConfigError` naming the setting and the problem.
Nothing here reads the process environment at import time.

A YAML value may be ``{"$env": NAME}`` to keep a secret out of the file: the value is read from that
environment variable (an unset variable is an error).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import ssl
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from oneapi import keyformat

Check = Callable[[Any], str | None]
"""A check returns None when the value is acceptable, else a short description of the problem."""


class ConfigError(ValueError):
    """A setting has a value oneapi cannot use. ``str()`` is the one line shown to the operator."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting
        self.problem = problem


# -- checks ------------------------------------------------------------------------------------


def _between(low: float, high: float) -> Check:
    def check(value: Any) -> str | None:
        return None if low <= value <= high else f"must be between {low:g} and {high:g}, got {value!r}"

    return check


def _at_least(low: float) -> Check:
    def check(value: Any) -> str | None:
        return None if value >= low else f"must be at least {low:g}, got {value!r}"

    return check


def _one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}; got {value!r}"

    return check


def _url(*schemes: str) -> Check:
    def check(value: Any) -> str | None:
        if value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in schemes or not (parts.netloc or parts.path):
            # not the value itself: a URL may carry a password
            got = f"a URL of scheme {parts.scheme!r}" if parts.scheme else "no URL"
            return f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}; got {got}"
        return None

    return check


def _session_secret(value: Any) -> str | None:
    # One API refuses to start with the placeholder from its docs; so do we.
    if value == "random_string":
        return "is still the documentation's placeholder 'random_string'; set a real random string"
    return None


def _root_token(value: Any) -> str | None:
    if value == "" or keyformat.is_token_key(value):
        return None
    return f"must be {keyformat.TOKEN_KEY_RULE} (no 'sk-' prefix: the relay reads KEY-CHANNELID)"


def _access_token(value: Any) -> str | None:
    if value == "" or keyformat.is_access_token(value):
        return None
    return f"must be {keyformat.ACCESS_TOKEN_RULE}"


def _cidr_list(value: Any) -> str | None:
    for part in filter(None, (p.strip() for p in value.split(","))):
        try:
            ipaddress.ip_network(part, strict=False)
        except ValueError:
            return f"{part!r} is not a CIDR such as 10.0.0.0/8"
    return None


BUILT_IN_THEMES = ("default", "berry", "air")


def _theme(value: Any) -> str | None:
    if value in BUILT_IN_THEMES:
        return None
    if not os.path.isfile(os.path.join(os.path.expanduser(value), "index.html")):
        return (f"must be default, berry or air, or a directory holding a built One API front end (index.html); "
                f"{value!r} is neither")
    return None


def _ca_file(value: Any) -> str | None:
    if value == "":
        return None
    try:
        ssl.create_default_context(cafile=value)
    except (OSError, ssl.SSLError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        return f"cannot be read as a PEM file of certificate authorities ({reason}); got {value!r}"
    return None


def setting(default: Any, env: str | None, doc: str, check: Check | None = None) -> Any:
    """Declare one setting: its default, its One API env var (None: YAML and flags only), its doc."""
    return field(default=default, metadata={"env": env, "doc": doc, "check": check})


# -- the settings ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    """Every setting oneapi reads. Field names are the YAML keys."""

    # Server
    port: int = setting(3000, "PORT", "TCP port of the HTTP server (relay, /api, web page)",
                        _between(1, 65535))
    data_dir: str = setting(".", "ONEAPI_HOME",
                            "data directory: default home of the SQLite file and the admin socket")
    admin_socket: str = setting("oneapi.sock", "ONEAPI_ADMIN_SOCKET",
                                "Unix socket of the admin API for the TUI and CLI, relative to the data directory "
                                "unless absolute")
    log_dir: str = setting("", "ONEAPI_LOG_DIR",
                           "directory for rotating log files (oneapi.log); empty logs to stderr only")
    debug: bool = setting(False, "DEBUG", "log at debug level")
    debug_sql: bool = setting(False, "DEBUG_SQL", "log every SQL statement (very verbose)")
    session_secret: str = setting("", "SESSION_SECRET",
                                  "key signing web session cookies; random per boot when empty; "
                                  "must be equal on all nodes", _session_secret)
    frontend_base_url: str = setting("", "FRONTEND_BASE_URL",
                                     "slave nodes redirect web pages here (301, path and query kept)",
                                     _url("http", "https"))
    theme: str = setting("default", "THEME",
                         "web theme: default, berry or air (oneapi's own pages), or the directory of a built One API "
                         "front end (index.html and its files) to serve instead", _theme)

    # Client connections: what one client may hold of the server (README: "Connections and timeouts")
    client_header_timeout: int = setting(20, "ONEAPI_CLIENT_HEADER_TIMEOUT",
                                         "seconds a client has to send a request's headers, counted from the "
                                         "connection's start or from the first byte of a later request",
                                         _between(1, 3600))
    client_body_timeout: int = setting(60, "ONEAPI_CLIENT_BODY_TIMEOUT",
                                       "seconds a client may pause while sending a request body (answers, streamed "
                                       "or not, are never cut by it)", _between(1, 3600))
    client_idle_timeout: int = setting(75, "ONEAPI_CLIENT_IDLE_TIMEOUT",
                                       "seconds a kept-alive connection may stay idle between two requests",
                                       _between(1, 3600))
    max_connections_per_ip: int = setting(256, "ONEAPI_MAX_CONNECTIONS_PER_IP",
                                          "open connections one client address may hold (addresses in "
                                          "TRUSTED_PROXIES are exempt); 0 = no cap", _at_least(0))

    # Storage
    sql_dsn: str = setting("", "SQL_DSN",
                           "MySQL/MariaDB (user:pass@tcp(host:port)/db or mysql://) or PostgreSQL "
                           "(postgres://) DSN; empty uses SQLite")
    log_sql_dsn: str = setting("", "LOG_SQL_DSN", "separate database for the logs table; empty uses the main one")
    sqlite_path: str = setting("one-api.db", "SQLITE_PATH",
                               "SQLite file, relative to the data directory unless absolute")
    sqlite_busy_timeout: int = setting(3000, "SQLITE_BUSY_TIMEOUT",
                                       "milliseconds SQLite waits for a lock before failing", _at_least(0))
    store_read_threads: int = setting(4, "STORE_READ_THREADS",
                                      "threads (and connections) serving database reads; writes use one more",
                                      _between(1, 64))
    journal_dir: str = setting("journal", "ONEAPI_JOURNAL_DIR",
                               "directory of the local journal of charges not yet in the database, relative to "
                               "the data directory unless absolute; one server per directory")
    journal_fsync_interval: float = setting(1.0, "ONEAPI_JOURNAL_FSYNC_INTERVAL",
                                            "seconds between fsyncs of the journal: what a power loss can lose; "
                                            "0 fsyncs every charge", _between(0, 60))

    # Multi-node and caching
    node_type: str = setting("master", "NODE_TYPE",
                             "master migrates the database and runs background jobs; slave does neither",
                             _one_of("master", "slave"))
    redis_conn_string: str = setting("", "REDIS_CONN_STRING",
                                     "Redis URL (redis://, rediss://, unix://) shared by all nodes; empty: no Redis",
                                     _url("redis", "rediss", "unix"))
    workers: int = setting(1, "ONEAPI_WORKERS",
                           "processes serving the port together (SO_REUSEPORT), one per core; more than 1 needs "
                           "REDIS_CONN_STRING", _between(1, 256))
    event_loop: str = setting("auto", "ONEAPI_EVENT_LOOP",
                              "auto: uvloop when installed (it is in the .pyz), else asyncio's own loop; uvloop "
                              "or asyncio to choose", _one_of("auto", "uvloop", "asyncio"))
    sync_frequency: int = setting(600, "SYNC_FREQUENCY",
                                  "seconds between reloads of channels and options from the database; "
                                  "also the TTL of Redis cache keys", _at_least(1))
    memory_cache_enabled: bool = setting(False, "MEMORY_CACHE_ENABLED",
                                         "One API's switch for in-process caches; accepted for compatibility: "
                                         "oneapi always keeps its routing table in memory")
    batch_update_enabled: bool = setting(False, "BATCH_UPDATE_ENABLED",
                                         "aggregate quota and usage counters in memory and flush them "
                                         "every BATCH_UPDATE_INTERVAL")
    batch_update_interval: int = setting(5, "BATCH_UPDATE_INTERVAL", "seconds between batch flushes",
                                         _at_least(1))

    # Background jobs
    channel_update_frequency: int = setting(0, "CHANNEL_UPDATE_FREQUENCY",
                                            "minutes between automatic channel balance updates; 0 = off",
                                            _at_least(0))
    channel_test_frequency: int = setting(0, "CHANNEL_TEST_FREQUENCY",
                                          "minutes between automatic tests of all channels; 0 = off",
                                          _at_least(0))
    polling_interval: int = setting(0, "POLLING_INTERVAL",
                                    "seconds to pause between channels in batch tests and balance updates",
                                    _at_least(0))

    # Rate limits
    global_api_rate_limit: int = setting(480, "GLOBAL_API_RATE_LIMIT",
                                         "requests per IP per 3 minutes on /api; 0 = unlimited", _at_least(0))
    global_web_rate_limit: int = setting(240, "GLOBAL_WEB_RATE_LIMIT",
                                         "requests per IP per 3 minutes on web pages; 0 = unlimited",
                                         _at_least(0))
    trusted_proxies: str = setting("127.0.0.1/32,::1/128", "TRUSTED_PROXIES",
                                   "comma-separated CIDRs of reverse proxies whose X-Forwarded-For is believed "
                                   "when finding the client IP", _cidr_list)

    # Relay
    relay_timeout: int = setting(0, "RELAY_TIMEOUT",
                                 "seconds a whole upstream request may take, streamed answers included (One API's "
                                 "bound); 0 = none", _at_least(0))
    relay_connect_timeout: int = setting(15, "RELAY_CONNECT_TIMEOUT",
                                         "seconds allowed to open a connection to an upstream (TCP, TLS, proxy)",
                                         _between(1, 600))
    relay_first_byte_timeout: int = setting(300, "RELAY_FIRST_BYTE_TIMEOUT",
                                            "seconds an upstream may take to start answering (status line and "
                                            "headers) once the request is sent; with RELAY_TIMEOUT 0, also the "
                                            "bound on an exchange of several calls (Replicate's polling)",
                                            _at_least(1))
    relay_idle_timeout: int = setting(300, "RELAY_IDLE_TIMEOUT",
                                      "seconds an upstream may stay silent while sending its answer (between two "
                                      "chunks of a stream)", _at_least(1))
    relay_proxy: str = setting("", "RELAY_PROXY", "HTTP proxy for upstream requests",
                               _url("http", "https"))
    user_content_request_timeout: int = setting(30, "USER_CONTENT_REQUEST_TIMEOUT",
                                                "seconds allowed to fetch an image URL sent by a user",
                                                _at_least(1))
    user_content_request_proxy: str = setting("", "USER_CONTENT_REQUEST_PROXY",
                                              "HTTP proxy for fetching user-supplied URLs",
                                              _url("http", "https"))
    user_content_request_allow_private: bool = setting(
        False, "USER_CONTENT_REQUEST_ALLOW_PRIVATE",
        "let user-supplied image URLs reach loopback and private addresses (on-premise image hosts); link-local, "
        "cloud metadata, multicast and reserved addresses stay refused")
    enforce_include_usage: bool = setting(False, "ENFORCE_INCLUDE_USAGE",
                                          "accepted for One API compatibility: oneapi always asks streaming "
                                          "upstreams for usage")
    test_prompt: str = setting("Output only your specific model name with no additional text.", "TEST_PROMPT",
                               "the user message sent when testing a channel")
    tiktoken_cache_dir: str = setting("", "TIKTOKEN_CACHE_DIR",
                                      "directory with tiktoken encoding files to use instead of the bundled ones")
    data_gym_cache_dir: str = setting("", "DATA_GYM_CACHE_DIR", "older name for TIKTOKEN_CACHE_DIR")
    gemini_safety_setting: str = setting("BLOCK_NONE", "GEMINI_SAFETY_SETTING",
                                         "threshold sent in Gemini safety_settings",
                                         _one_of("BLOCK_NONE", "BLOCK_ONLY_HIGH", "BLOCK_MEDIUM_AND_ABOVE",
                                                 "BLOCK_LOW_AND_ABOVE", "HARM_BLOCK_THRESHOLD_UNSPECIFIED",
                                                 "OFF"))
    gemini_version: str = setting("v1", "GEMINI_VERSION",
                                  "Gemini API version for models that do not need v1beta",
                                  _one_of("v1", "v1beta"))

    # Metrics-based auto-disable
    enable_metric: bool = setting(False, "ENABLE_METRIC",
                                  "disable a channel whose recent success rate falls below the threshold")
    metric_queue_size: int = setting(10, "METRIC_QUEUE_SIZE", "outcomes kept per channel for the success rate",
                                     _between(1, 10000))
    metric_success_rate_threshold: float = setting(0.8, "METRIC_SUCCESS_RATE_THRESHOLD",
                                                   "success rate under which a channel is disabled",
                                                   _between(0, 1))

    # Login methods: the outside services' addresses (for GitHub Enterprise, Lark's international site, and
    # tests), and how long any call to them may take
    github_url: str = setting("https://github.com", "ONEAPI_GITHUB_URL",
                              "GitHub's web address: OAuth authorize and access_token endpoints",
                              _url("http", "https"))
    github_api_url: str = setting("https://api.github.com", "ONEAPI_GITHUB_API_URL",
                                  "GitHub's API address: the signed-in user's profile (/user)",
                                  _url("http", "https"))
    lark_url: str = setting("https://open.feishu.cn", "ONEAPI_LARK_URL",
                            "Lark (Feishu) open platform address: authorize, token and user_info endpoints",
                            _url("http", "https"))
    turnstile_siteverify_url: str = setting("https://challenges.cloudflare.com/turnstile/v0/siteverify",
                                            "ONEAPI_TURNSTILE_SITEVERIFY_URL",
                                            "Cloudflare Turnstile's siteverify endpoint", _url("http", "https"))
    turnstile_script_url: str = setting("https://challenges.cloudflare.com/turnstile/v0/api.js",
                                        "ONEAPI_TURNSTILE_SCRIPT_URL",
                                        "the Turnstile widget script the login, sign-up, reset and settings pages load",
                                        _url("http", "https"))
    smtp_ca_file: str = setting("", "ONEAPI_SMTP_CA_FILE",
                                "PEM file of the certificate authorities trusted for the SMTP server's TLS "
                                "certificate; empty: the system's", _ca_file)
    outbound_timeout: float = setting(10.0, "ONEAPI_OUTBOUND_TIMEOUT",
                                      "seconds allowed for one call to the SMTP server, GitHub, Lark, the OIDC "
                                      "provider, the WeChat Server or Turnstile", _between(1, 120))

    # First boot
    initial_root_token: str = setting("", "INITIAL_ROOT_TOKEN",
                                      "relay token key created for root at first boot", _root_token)
    initial_root_access_token: str = setting("", "INITIAL_ROOT_ACCESS_TOKEN",
                                             "root's system access token at first boot", _access_token)

    # -- derived values --------------------------------------------------------------------------

    @property
    def is_master(self) -> bool:
        return self.node_type != "slave"

    @property
    def theme_dir(self) -> Path | None:
        """The One API front end to serve instead of oneapi's own pages (THEME naming a directory), or None."""
        return None if self.theme in BUILT_IN_THEMES else Path(self.theme).expanduser().resolve()

    @property
    def redis_enabled(self) -> bool:
        return bool(self.redis_conn_string)

    def data_path(self, name: str) -> Path:
        """A path inside the data directory, unless ``name`` is absolute."""
        path = Path(name).expanduser()
        return path if path.is_absolute() else Path(self.data_dir).expanduser() / path


FLAG_KEYS = ("port", "log_dir", "admin_socket", "workers")
"""Settings that CLI flags may set (``--port``, ``--log-dir``, ``--admin-socket``, ``--workers``); flags win over
everything."""


def settings() -> list[dataclasses.Field[Any]]:
    """The declared settings, in declaration order."""
    return list(dataclasses.fields(Config))


def _types() -> dict[str, type]:
    return typing.get_type_hints(Config)


# -- parsing -----------------------------------------------------------------------------------

_TRUE = {"1", "t", "true", "yes", "on"}
_FALSE = {"0", "f", "false", "no", "off", ""}


def _coerce(name: str, kind: type, raw: Any) -> Any:
    """Turn a YAML or env value into the setting's type, or raise ConfigError."""
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ConfigError(name, f"{raw!r} is not a boolean (use true or false)")
    if kind is int:
        if isinstance(raw, bool):
            raise ConfigError(name, f"{raw!r} is not an integer")
        if isinstance(raw, int):
            return raw
        try:
            return int(str(raw).strip())
        except ValueError:
            raise ConfigError(name, f"{raw!r} is not an integer") from None
    if kind is float:
        if isinstance(raw, bool):
            raise ConfigError(name, f"{raw!r} is not a number")
        try:
            return float(str(raw).strip())
        except ValueError:
            raise ConfigError(name, f"{raw!r} is not a number") from None
    if not isinstance(raw, str):
        # YAML turns unquoted 0123 into 83 and no into False: refuse rather than guess what was meant.
        raise ConfigError(name, f"must be a string; quote the value in YAML (got {raw!r})")
    return raw


def _parse_yaml(text: str, environ: Mapping[str, str], source: str = "config file") -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(source, f"is not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("config file", "must be a mapping of setting names to values")
    known = {f.name for f in settings()}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(str(key), "unknown setting in config file (see config.example.yaml)")
        if value is None:  # "key:" with no value means "use the default"
            continue
        if isinstance(value, dict) and set(value) == {"$env"}:
            env_name = str(value["$env"])
            if env_name not in environ:
                raise ConfigError(key, f"refers to environment variable {env_name}, which is not set")
            value = environ[env_name]
        values[key] = value
    return values


def load(text: str | None = None, environ: Mapping[str, str] | None = None,
         flags: Mapping[str, Any] | None = None, source: str = "config file") -> Config:
    """Build the Config from YAML text, an environment and CLI flags (each optional)."""
    environ = environ if environ is not None else {}
    types = _types()
    raw: dict[str, tuple[str, Any]] = {}  # name -> (label for errors, raw value)
    if text is not None:
        for key, value in _parse_yaml(text, environ, source).items():
            raw[key] = (key, value)
    for f in settings():
        env_name = f.metadata["env"]
        # An empty variable counts as unset, as in One API (compose files often carry blank entries).
        if env_name and environ.get(env_name, "") != "":
            raw[f.name] = (env_name, environ[env_name])
    for key, value in (flags or {}).items():
        if key not in FLAG_KEYS:
            raise ConfigError(key, "is not a command-line flag")
        if value is not None:
            raw[key] = ("--" + key.replace("_", "-"), value)

    values: dict[str, Any] = {}
    for f in settings():
        if f.name not in raw:
            continue
        label, value = raw[f.name]
        coerced = _coerce(label, types[f.name], value)
        check = f.metadata["check"]
        problem = check(coerced) if check else None
        if problem:
            raise ConfigError(label, problem)
        values[f.name] = coerced
    if values.get("workers", 1) > 1 and not values.get("redis_conn_string"):
        # Each worker is a node of its own: without Redis each would keep its own balances and rate limits.
        raise ConfigError(raw["workers"][0], f"{values['workers']} workers need REDIS_CONN_STRING: without Redis "
                          "each worker keeps its own balances and rate limits, so a token could spend its quota "
                          f"{values['workers']} times over")
    return Config(**values)


def load_from(config_path: str | None, environ: Mapping[str, str],
              flags: Mapping[str, Any] | None = None) -> Config:
    """Read the YAML file (``config_path``, else ./config.yaml if present) and call :func:`load`."""
    path = Path(config_path) if config_path else Path("config.yaml")
    text: str | None = None
    if config_path or path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError("--config", f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ConfigError("--config", f"{str(path)!r} is not UTF-8 text") from None
    return load(text, environ, flags, source=f"config file {str(path)!r}")


def load_process(config_path: str | None = None, flags: Mapping[str, Any] | None = None) -> Config:
    """Load with the real process environment (the CLI's entry point)."""
    return load_from(config_path, os.environ, flags)
