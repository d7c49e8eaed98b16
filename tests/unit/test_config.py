"""The pure settings loader: defaults, precedence, One API's env names, and one-line errors for bad values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trustme

from oneapi.config import FLAG_KEYS, Config, ConfigError, load, load_from, settings

# -- defaults ----------------------------------------------------------------------------------


def test_nothing_given_gives_the_defaults() -> None:
    assert load() == Config()
    assert load(None, {}, {}) == Config()
    assert load("", {}) == Config()  # an empty YAML file is no settings at all


@pytest.mark.parametrize(("name", "default"), [
    ("port", 3000),
    ("data_dir", "."),
    ("sqlite_path", "one-api.db"),
    ("sqlite_busy_timeout", 3000),
    ("node_type", "master"),
    ("sync_frequency", 600),
    ("batch_update_interval", 5),
    ("global_api_rate_limit", 480),
    ("global_web_rate_limit", 240),
    ("user_content_request_timeout", 30),
    ("theme", "default"),
    ("gemini_safety_setting", "BLOCK_NONE"),
    ("gemini_version", "v1"),
    ("metric_queue_size", 10),
    ("metric_success_rate_threshold", 0.8),
    ("sql_dsn", ""),
    ("session_secret", ""),
    ("redis_conn_string", ""),
    ("memory_cache_enabled", False),
    ("batch_update_enabled", False),
    ("enable_metric", False),
])
def test_default(name: str, default: Any) -> None:
    assert getattr(Config(), name) == default


def test_every_default_passes_its_own_check() -> None:
    for f in settings():
        check = f.metadata["check"]
        assert check is None or check(f.default) is None, f.name


def test_every_setting_is_documented() -> None:
    for f in settings():
        assert f.metadata["doc"].strip(), f.name
        env = f.metadata["env"]
        assert env is None or env == env.upper(), f.name


def test_derived_values() -> None:
    assert Config().is_master and not Config().redis_enabled
    assert not load(None, {"NODE_TYPE": "slave"}).is_master
    assert load(None, {"REDIS_CONN_STRING": "redis://localhost:6379/0"}).redis_enabled


# -- precedence: defaults < YAML < env < flags ----------------------------------------------------


@pytest.mark.parametrize(("yaml_text", "environ", "flags", "expected"), [
    (None, {}, {}, 3000),
    ("port: 4000", {}, {}, 4000),
    ("port: 4000", {"PORT": "5000"}, {}, 5000),
    ("port: 4000", {"PORT": "5000"}, {"port": 6000}, 6000),
    (None, {"PORT": "5000"}, {"port": 6000}, 6000),
    ("port: 4000", {}, {"port": 6000}, 6000),
    ("port: 4000", {"PORT": "5000"}, {"port": None}, 5000),  # an absent flag does not override
])
def test_port_precedence(yaml_text: str | None, environ: dict[str, str], flags: dict[str, Any],
                         expected: int) -> None:
    assert load(yaml_text, environ, flags).port == expected


@pytest.mark.parametrize(("yaml_text", "environ", "flags", "expected"), [
    ("log_dir: /yaml", {}, {}, "/yaml"),
    ("log_dir: /yaml", {"ONEAPI_LOG_DIR": "/env"}, {}, "/env"),
    ("log_dir: /yaml", {"ONEAPI_LOG_DIR": "/env"}, {"log_dir": "/flag"}, "/flag"),
])
def test_log_dir_precedence(yaml_text: str, environ: dict[str, str], flags: dict[str, Any],
                            expected: str) -> None:
    assert load(yaml_text, environ, flags).log_dir == expected


@pytest.mark.parametrize(("yaml_text", "environ", "name", "expected"), [
    ("sql_dsn: postgres://y/db", {}, "sql_dsn", "postgres://y/db"),
    ("sql_dsn: postgres://y/db", {"SQL_DSN": "mysql://e/db"}, "sql_dsn", "mysql://e/db"),
    ("node_type: slave", {}, "node_type", "slave"),
    ("node_type: slave", {"NODE_TYPE": "master"}, "node_type", "master"),
    ("sync_frequency: 60", {"SYNC_FREQUENCY": "30"}, "sync_frequency", 30),
    ("batch_update_enabled: true", {"BATCH_UPDATE_ENABLED": "false"}, "batch_update_enabled", False),
    ("metric_success_rate_threshold: 0.5", {}, "metric_success_rate_threshold", 0.5),
])
def test_env_beats_yaml(yaml_text: str, environ: dict[str, str], name: str, expected: Any) -> None:
    assert getattr(load(yaml_text, environ), name) == expected


def test_unrelated_env_vars_are_ignored() -> None:
    assert load(None, {"HOME": "/root", "PATH": "/bin", "port": "1"}) == Config()


def test_only_declared_flags_are_accepted() -> None:
    assert set(FLAG_KEYS) == {"port", "log_dir", "admin_socket", "workers"}
    with pytest.raises(ConfigError, match="sql_dsn"):
        load(None, {}, {"sql_dsn": "x"})


# -- One API's env names ------------------------------------------------------------------------

ENV_CASES: list[tuple[str, str, str, Any]] = [
    ("PORT", "8080", "port", 8080),
    ("SQL_DSN", "root:pw@tcp(localhost:3306)/oneapi", "sql_dsn", "root:pw@tcp(localhost:3306)/oneapi"),
    ("LOG_SQL_DSN", "postgres://u:p@db/logs", "log_sql_dsn", "postgres://u:p@db/logs"),
    ("SQLITE_PATH", "/var/lib/oneapi/one-api.db", "sqlite_path", "/var/lib/oneapi/one-api.db"),
    ("SQLITE_BUSY_TIMEOUT", "5000", "sqlite_busy_timeout", 5000),
    ("SESSION_SECRET", "s3cr3t-s3cr3t", "session_secret", "s3cr3t-s3cr3t"),
    ("REDIS_CONN_STRING", "redis://default:pw@localhost:6379/0", "redis_conn_string",
     "redis://default:pw@localhost:6379/0"),
    ("NODE_TYPE", "slave", "node_type", "slave"),
    ("SYNC_FREQUENCY", "60", "sync_frequency", 60),
    ("FRONTEND_BASE_URL", "https://openai.example.com", "frontend_base_url", "https://openai.example.com"),
    ("MEMORY_CACHE_ENABLED", "true", "memory_cache_enabled", True),
    ("CHANNEL_UPDATE_FREQUENCY", "1440", "channel_update_frequency", 1440),
    ("CHANNEL_TEST_FREQUENCY", "30", "channel_test_frequency", 30),
    ("POLLING_INTERVAL", "2", "polling_interval", 2),
    ("BATCH_UPDATE_ENABLED", "true", "batch_update_enabled", True),
    ("BATCH_UPDATE_INTERVAL", "10", "batch_update_interval", 10),
    ("GLOBAL_API_RATE_LIMIT", "1000", "global_api_rate_limit", 1000),
    ("GLOBAL_WEB_RATE_LIMIT", "0", "global_web_rate_limit", 0),
    ("TIKTOKEN_CACHE_DIR", "/opt/tiktoken", "tiktoken_cache_dir", "/opt/tiktoken"),
    ("DATA_GYM_CACHE_DIR", "/opt/data-gym", "data_gym_cache_dir", "/opt/data-gym"),
    ("RELAY_TIMEOUT", "120", "relay_timeout", 120),
    ("RELAY_PROXY", "http://proxy:8080", "relay_proxy", "http://proxy:8080"),
    ("USER_CONTENT_REQUEST_TIMEOUT", "10", "user_content_request_timeout", 10),
    ("USER_CONTENT_REQUEST_PROXY", "https://proxy:8443", "user_content_request_proxy", "https://proxy:8443"),
    ("GEMINI_SAFETY_SETTING", "BLOCK_ONLY_HIGH", "gemini_safety_setting", "BLOCK_ONLY_HIGH"),
    ("GEMINI_VERSION", "v1beta", "gemini_version", "v1beta"),
    ("THEME", "berry", "theme", "berry"),
    ("ENABLE_METRIC", "true", "enable_metric", True),
    ("METRIC_QUEUE_SIZE", "20", "metric_queue_size", 20),
    ("METRIC_SUCCESS_RATE_THRESHOLD", "0.5", "metric_success_rate_threshold", 0.5),
    ("INITIAL_ROOT_TOKEN", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKL", "initial_root_token",
     "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKL"),
    ("INITIAL_ROOT_ACCESS_TOKEN", "0123456789abcdef0123456789abcdef", "initial_root_access_token",
     "0123456789abcdef0123456789abcdef"),
    ("ONEAPI_HOME", "/var/lib/oneapi", "data_dir", "/var/lib/oneapi"),
]


@pytest.mark.parametrize(("env", "raw", "name", "expected"), ENV_CASES, ids=[c[0] for c in ENV_CASES])
def test_one_api_env_name(env: str, raw: str, name: str, expected: Any) -> None:
    config = load(None, {env: raw})
    assert getattr(config, name) == expected
    assert {f.name: f.metadata["env"] for f in settings()}[name] == env
    # nothing else moved
    assert config == Config(**{name: expected})


@pytest.mark.parametrize(("raw", "expected"), [
    ("true", True), ("TRUE", True), ("1", True), ("yes", True), ("on", True), ("t", True),
    ("false", False), ("0", False), ("no", False), ("off", False), ("", False), (" True ", True),
])
def test_boolean_spellings(raw: str, expected: bool) -> None:
    assert load(None, {"BATCH_UPDATE_ENABLED": raw}).batch_update_enabled is expected


@pytest.mark.parametrize("dsn", ["", "redis://localhost:6379", "rediss://u:p@h:6380/1", "unix:///run/redis.sock"])
def test_redis_url_forms(dsn: str) -> None:
    assert load(None, {"REDIS_CONN_STRING": dsn}).redis_conn_string == dsn


def test_yaml_values_are_coerced_to_the_setting_type() -> None:
    config = load('port: "4000"\nenable_metric: "yes"\nmetric_success_rate_threshold: 1\n', {})
    assert config.port == 4000 and config.enable_metric is True
    assert config.metric_success_rate_threshold == 1.0


# -- bad values: ConfigError naming the setting -------------------------------------------------

BAD_ENV: list[tuple[dict[str, str], str]] = [
    ({"PORT": "abc"}, "PORT"),
    ({"PORT": "70000"}, "PORT"),
    ({"PORT": "0"}, "PORT"),
    ({"NODE_TYPE": "boss"}, "NODE_TYPE"),
    ({"SYNC_FREQUENCY": "-1"}, "SYNC_FREQUENCY"),
    ({"SYNC_FREQUENCY": "0"}, "SYNC_FREQUENCY"),
    ({"METRIC_SUCCESS_RATE_THRESHOLD": "2"}, "METRIC_SUCCESS_RATE_THRESHOLD"),
    ({"METRIC_SUCCESS_RATE_THRESHOLD": "high"}, "METRIC_SUCCESS_RATE_THRESHOLD"),
    ({"BATCH_UPDATE_ENABLED": "maybe"}, "BATCH_UPDATE_ENABLED"),
    ({"REDIS_CONN_STRING": "http://x"}, "REDIS_CONN_STRING"),
    ({"SESSION_SECRET": "random_string"}, "SESSION_SECRET"),
    ({"INITIAL_ROOT_TOKEN": "sk-abc"}, "INITIAL_ROOT_TOKEN"),
    ({"INITIAL_ROOT_TOKEN": "x" * 49}, "INITIAL_ROOT_TOKEN"),
    ({"INITIAL_ROOT_ACCESS_TOKEN": "a b"}, "INITIAL_ROOT_ACCESS_TOKEN"),
    ({"THEME": "dark"}, "THEME"),
    ({"GEMINI_VERSION": "v2"}, "GEMINI_VERSION"),
    ({"SQLITE_BUSY_TIMEOUT": "-5"}, "SQLITE_BUSY_TIMEOUT"),
    ({"RELAY_PROXY": "ftp://proxy"}, "RELAY_PROXY"),
    ({"FRONTEND_BASE_URL": "example.com"}, "FRONTEND_BASE_URL"),
    ({"METRIC_QUEUE_SIZE": "0"}, "METRIC_QUEUE_SIZE"),
]


@pytest.mark.parametrize(("environ", "setting"), BAD_ENV,
                         ids=[" ".join(f"{k}={v[:12]}" for k, v in e.items()) for e, _ in BAD_ENV])
def test_bad_env_value_names_the_setting(environ: dict[str, str], setting: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(None, environ)
    message = str(caught.value)
    assert message.startswith(f"{setting}: ")
    assert caught.value.setting == setting
    assert "\n" not in message and caught.value.problem


def test_the_smtp_ca_file_is_read_at_load(tmp_path: Path) -> None:
    """A CA file that is missing, a directory or no PEM is a configuration error, not a 500 at the first e-mail."""
    (tmp_path / "not.pem").write_text("hello\n")
    for bad, reason in [(tmp_path / "missing.pem", "No such file"), (tmp_path, "Is a directory"),
                        (tmp_path / "not.pem", "")]:
        with pytest.raises(ConfigError, match=rf"^ONEAPI_SMTP_CA_FILE: cannot be read as a PEM file .*{reason}"):
            load(None, {"ONEAPI_SMTP_CA_FILE": str(bad)})
    good = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(good))
    assert load(None, {"ONEAPI_SMTP_CA_FILE": str(good)}).smtp_ca_file == str(good)


def test_bad_value_message_says_what_was_wrong() -> None:
    with pytest.raises(ConfigError, match=r"^PORT: 'abc' is not an integer$"):
        load(None, {"PORT": "abc"})
    with pytest.raises(ConfigError, match=r"^PORT: must be between 1 and 65535, got 70000$"):
        load(None, {"PORT": "70000"})
    with pytest.raises(ConfigError, match=r"^NODE_TYPE: must be one of master, slave"):
        load(None, {"NODE_TYPE": "boss"})


def test_bad_yaml_value_names_the_yaml_key() -> None:
    with pytest.raises(ConfigError, match=r"^port: "):
        load("port: abc", {})
    with pytest.raises(ConfigError, match=r"^sync_frequency: "):
        load("sync_frequency: -1", {})
    with pytest.raises(ConfigError, match=r"^sql_dsn: must be a string"):
        load("sql_dsn: [a, b]", {})


def test_bad_flag_names_the_flag() -> None:
    with pytest.raises(ConfigError, match=r"^--port: "):
        load(None, {}, {"port": 0})
    with pytest.raises(ConfigError, match=r"^--port: "):
        load(None, {}, {"port": "abc"})


def test_a_good_env_value_hides_a_bad_yaml_value() -> None:
    # the YAML value is overridden before it is checked
    assert load("port: abc", {"PORT": "4000"}).port == 4000


@pytest.mark.parametrize(("yaml_text", "setting"), [
    ("a: [", "config file"),
    ("- port\n- 3000\n", "config file"),
    ("just a string", "config file"),
    ("prot: 3000", "prot"),
    ("PORT: 3000", "PORT"),  # YAML keys are the field names, not the env names
])
def test_bad_yaml_file(yaml_text: str, setting: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(yaml_text, {})
    assert caught.value.setting == setting
    assert "\n" not in str(caught.value)


def test_unreadable_yaml_says_where() -> None:
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load("port: 3000\na: [\n", {})


def test_unknown_yaml_key_points_at_the_example() -> None:
    with pytest.raises(ConfigError, match=r"^prot: unknown setting.*config\.example\.yaml"):
        load("prot: 3000", {})


# -- {"$env": NAME} indirection -------------------------------------------------------------------


def test_env_indirection_reads_the_named_variable() -> None:
    text = 'session_secret: {"$env": OA_SECRET}\nsql_dsn: {"$env": OA_DSN}\nport: {"$env": OA_PORT}\n'
    config = load(text, {"OA_SECRET": "abc123", "OA_DSN": "postgres://u:p@h/db", "OA_PORT": "4001"})
    assert config.session_secret == "abc123"
    assert config.sql_dsn == "postgres://u:p@h/db"
    assert config.port == 4001


def test_env_indirection_with_an_unset_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        load('session_secret: {"$env": OA_SECRET}', {})
    assert caught.value.setting == "session_secret"
    assert "OA_SECRET" in str(caught.value) and "not set" in str(caught.value)


def test_env_indirection_value_is_checked() -> None:
    with pytest.raises(ConfigError, match=r"^session_secret: .*random_string"):
        load('session_secret: {"$env": OA_SECRET}', {"OA_SECRET": "random_string"})
    with pytest.raises(ConfigError, match=r"^port: "):
        load('port: {"$env": OA_PORT}', {"OA_PORT": "abc"})


def test_the_settings_own_env_var_still_wins_over_indirection() -> None:
    config = load('session_secret: {"$env": OA_SECRET}', {"OA_SECRET": "from-file", "SESSION_SECRET": "env"})
    assert config.session_secret == "env"


def test_a_mapping_that_is_not_an_indirection_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^session_secret: "):
        load('session_secret: {"$env": A, other: 1}', {"A": "x"})


# -- load_from: reading the file ----------------------------------------------------------------


def test_load_from_reads_the_given_file(tmp_path: Path) -> None:
    path = tmp_path / "oneapi.yaml"
    path.write_text("port: 4100\nnode_type: slave\n", encoding="utf-8")
    config = load_from(str(path), {"NODE_TYPE": "master"}, {"log_dir": "/tmp/logs"})
    assert (config.port, config.node_type, config.log_dir) == (4100, "master", "/tmp/logs")


def test_load_from_missing_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_from(str(missing), {})
    assert caught.value.setting == "--config"
    assert "nope.yaml" in str(caught.value)


def test_load_from_non_utf8_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("theme: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"^--config: .*not UTF-8"):
        load_from(str(path), {})


def test_load_from_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^--config: "):
        load_from(str(tmp_path), {})


def test_load_from_uses_config_yaml_in_the_working_directory(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_from(None, {}) == Config()  # no ./config.yaml: defaults
    (tmp_path / "config.yaml").write_text("port: 4200\n", encoding="utf-8")
    assert load_from(None, {}).port == 4200
    assert load_from(None, {"PORT": "4300"}).port == 4300


# -- data_path ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("data_dir", "name", "expected"), [
    (".", "one-api.db", Path("one-api.db")),
    ("data", "one-api.db", Path("data/one-api.db")),
    ("/var/lib/oneapi", "one-api.db", Path("/var/lib/oneapi/one-api.db")),
    ("/var/lib/oneapi", "sub/logs.db", Path("/var/lib/oneapi/sub/logs.db")),
    ("/var/lib/oneapi", "/srv/db/one-api.db", Path("/srv/db/one-api.db")),
    ("data", "/srv/db/one-api.db", Path("/srv/db/one-api.db")),
])
def test_data_path(data_dir: str, name: str, expected: Path) -> None:
    assert Config(data_dir=data_dir).data_path(name) == expected


def test_data_path_expands_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert Config(data_dir="~/oneapi").data_path("one-api.db") == tmp_path / "oneapi" / "one-api.db"
    assert Config().data_path("~/x.db") == tmp_path / "x.db"


def test_sqlite_file_follows_oneapi_home() -> None:
    config = load(None, {"ONEAPI_HOME": "data"})
    assert config.data_path(config.sqlite_path) == Path("data/one-api.db")


def test_unquoted_yaml_scalar_for_a_text_setting_is_refused() -> None:
    # YAML reads 0123 as the integer 83 and no as False; guessing would silently change a secret.
    with pytest.raises(ConfigError, match=r"^session_secret: must be a string; quote"):
        load("session_secret: 0123", {})
    with pytest.raises(ConfigError, match=r"^sql_dsn: must be a string"):
        load("sql_dsn: no", {})
    assert load('session_secret: "0123"', {}).session_secret == "0123"


def test_empty_env_var_counts_as_unset() -> None:
    config = load("port: 4000", {"PORT": "", "SQLITE_BUSY_TIMEOUT": "", "DEBUG": ""})
    assert config.port == 4000
    assert config.sqlite_busy_timeout == Config().sqlite_busy_timeout


def test_yaml_key_without_value_keeps_the_default() -> None:
    assert load("debug:\nport:\n", {}) == Config()


def test_yaml_error_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "oneapi.yaml"
    bad.write_text("a: [", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"oneapi\.yaml"):
        load_from(str(bad), {})


def test_socks_proxy_is_refused_for_relay_proxy() -> None:
    with pytest.raises(ConfigError, match=r"^RELAY_PROXY: "):
        load(None, {"RELAY_PROXY": "socks5://127.0.0.1:1080"})
