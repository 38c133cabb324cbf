"""wakeful.config: ServerConfig built from a given environment and flags, and its errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from wakeful.config import ServerConfig, default_data_dir
from wakeful.errors import StartupError

HOME = {"HOME": "/home/u"}


def test_defaults_without_any_variable() -> None:
    config = ServerConfig.build(HOME)
    assert (config.hostname, config.port, config.password, config.username) == (
        "127.0.0.1",
        4096,
        None,
        "opencode",
    )
    assert config.data_dir == Path("/home/u/.local/share/wakeful")
    assert config.cors_origins == () and config.provider_silence == 120.0
    assert config.environ == HOME


def test_every_field_reads_its_variable() -> None:
    config = ServerConfig.build(
        {
            **HOME,
            "WAKEFUL_KEEPALIVE_INTERVAL": "0.2",
            "WAKEFUL_PORT": "5000",
            "WAKEFUL_INSECURE": "true",
            "WAKEFUL_LLM_TRANSPORT": "httpx",
            "WAKEFUL_RUN_DEADLINE": "30",
            "WAKEFUL_BASH_MAX_TIMEOUT": "60",
            "WAKEFUL_TOOL_OUTPUT_MAX_BYTES": "1000",
            "WAKEFUL_DB_READERS": "",  # empty means unset
        }
    )
    assert config.keepalive_interval == 0.2 and config.port == 5000 and config.insecure is True
    assert config.llm_transport == "httpx" and config.run_deadline == 30.0
    assert config.bash_max_timeout == 60.0 and config.tool_output_max_bytes == 1000
    assert config.db_readers == 4


def test_data_dir_from_variable_then_xdg() -> None:
    assert ServerConfig.build({**HOME, "WAKEFUL_DATA_DIR": "~/w"}).data_dir == Path("/home/u/w")
    assert ServerConfig.build({**HOME, "XDG_DATA_HOME": "/x"}).data_dir == Path("/x/wakeful")
    assert default_data_dir({**HOME, "WAKEFUL_DATA_DIR": "/d"}) == Path("/d")


def test_flags_win_over_the_environment_and_none_means_not_given() -> None:
    env = {**HOME, "WAKEFUL_PORT": "5000", "WAKEFUL_DATA_DIR": "/env", "WAKEFUL_DRAIN_TIMEOUT": "7"}
    config = ServerConfig.build(env, port=6000, data_dir=Path("/flag"), drain_timeout=None)
    assert config.port == 6000 and config.data_dir == Path("/flag")
    assert config.drain_timeout == 7.0


@pytest.mark.parametrize(
    ("env", "password", "username"),
    [
        ({"OPENCODE_SERVER_PASSWORD": "o", "OPENCODE_SERVER_USERNAME": "ou"}, "o", "ou"),
        ({"WAKEFUL_SERVER_PASSWORD": "w", "OPENCODE_SERVER_PASSWORD": "o"}, "w", "opencode"),
        ({"WAKEFUL_SERVER_PASSWORD": "", "OPENCODE_SERVER_PASSWORD": "o"}, "o", "opencode"),
        ({"WAKEFUL_USERNAME": "w", "OPENCODE_SERVER_USERNAME": "o"}, None, "w"),
        ({"WAKEFUL_PASSWORD": "not a name the server reads"}, None, "opencode"),
    ],
)
def test_password_and_username_aliases(env: dict[str, str], password: str | None, username: str) -> None:
    config = ServerConfig.build({**HOME, **env})
    assert (config.password, config.username) == (password, username)
    assert ServerConfig.build({**HOME, **env}, password="flag").password == "flag"


def test_cors_origins_are_comma_separated() -> None:
    env = {**HOME, "WAKEFUL_CORS_ORIGINS": "https://a.example, https://b.example,,"}
    assert ServerConfig.build(env).cors_origins == ("https://a.example", "https://b.example")
    assert ServerConfig.build(env, cors_origins=("https://c.example",)).cors_origins == ("https://c.example",)


def test_a_bad_value_names_its_variable() -> None:
    with pytest.raises(StartupError) as info:
        ServerConfig.build({**HOME, "WAKEFUL_KEEPALIVE_INTERVAL": "abc", "WAKEFUL_LLM_TRANSPORT": "curl"})
    message = str(info.value)
    assert "WAKEFUL_KEEPALIVE_INTERVAL='abc'" in message and "valid number" in message
    assert "WAKEFUL_LLM_TRANSPORT='curl'" in message


def test_a_bad_flag_names_the_flag() -> None:
    with pytest.raises(StartupError, match="port='abc'"):
        ServerConfig.build(HOME, port="abc")


def test_an_explicit_environment_is_the_only_one_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAKEFUL_PORT", "poison")
    monkeypatch.setenv("WAKEFUL_SERVER_PASSWORD", "poison")
    monkeypatch.setenv("WAKEFUL_DATA_DIR", "/poison")
    monkeypatch.setenv("HOME", "/poison")
    config = ServerConfig.build({})
    assert config.port == 4096 and config.password is None and config.environ == {}
    assert "poison" not in str(config.data_dir)
    # constructed directly, the model reads only its `environ` argument too
    direct = ServerConfig(data_dir=Path("/d"), environ={"WAKEFUL_PORT": "5"})
    assert direct.port == 5 and direct.password is None


def test_no_environment_given_means_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAKEFUL_PORT", "5001")
    config = ServerConfig.build()
    assert config.port == 5001 and config.environ["WAKEFUL_PORT"] == "5001"


def test_loopback_and_keepalive_clamp() -> None:
    assert ServerConfig.build(HOME, hostname="127.0.0.2").is_loopback
    assert not ServerConfig.build(HOME, hostname="0.0.0.0").is_loopback
    config = ServerConfig.build({**HOME, "WAKEFUL_KEEPALIVE_MAX": "10"})
    assert config.clamp_keepalive(None) == 2.0
    assert config.clamp_keepalive(0.0) == 0.05 and config.clamp_keepalive(99) == 10.0


def test_database_url_takes_postgresql_urls_and_never_shows_the_password() -> None:
    url = "postgresql://wakeful:s3cret@db.internal:5432/wakeful"
    assert ServerConfig.build(HOME).database_url is None
    assert ServerConfig.build({**HOME, "WAKEFUL_DATABASE_URL": url}).database_url == url
    assert ServerConfig.build(HOME, database_url="postgres://u@db/app").database_url == "postgres://u@db/app"
    assert "s3cret" not in repr(ServerConfig.build({**HOME, "WAKEFUL_DATABASE_URL": url}))
    for given in ({"env": {**HOME, "WAKEFUL_DATABASE_URL": "mysql://u:s3cret@db/app"}}, {"database_url": "u:s3cret@db"}):
        with pytest.raises(StartupError, match="must be a PostgreSQL URL") as refused:
            ServerConfig.build(given.pop("env", HOME), **given)
        assert "s3cret" not in str(refused.value)


def _lower_bound(name: str) -> tuple[float, bool] | None:
    """The field's lower bound and whether the bound itself is allowed (ge) or not (gt)."""
    for item in ServerConfig.model_fields[name].metadata:
        if getattr(item, "gt", None) is not None:
            return float(item.gt), False
        if getattr(item, "ge", None) is not None:
            return float(item.ge), True
    return None


NUMERIC = [
    name
    for name, field in ServerConfig.model_fields.items()
    if field.annotation in (int, float, float | None, int | None) and name != "port"
]


@pytest.mark.parametrize("name", NUMERIC)
def test_every_number_has_a_lower_bound_and_a_value_under_it_is_refused(name: str) -> None:
    bound = _lower_bound(name)
    assert bound is not None, f"{name} takes any number, negative ones included"
    low, inclusive = bound
    below = low - 1 if inclusive else low
    variable = f"WAKEFUL_{name.upper()}"
    with pytest.raises(StartupError, match=variable):
        ServerConfig.build({variable: str(int(below)) if below == int(below) else str(below)})
    ServerConfig.build({variable: str(low + 1)})  # a value above the bound is taken


def test_a_port_outside_tcps_range_is_refused() -> None:
    for port in ("-1", "65536"):
        with pytest.raises(StartupError, match="WAKEFUL_PORT"):
            ServerConfig.build({"WAKEFUL_PORT": port})
