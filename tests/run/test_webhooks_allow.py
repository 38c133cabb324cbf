"""The webhook allow-list: what each kind of entry lets through, and where an attempt connects."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from wakeful.config import ServerConfig
from wakeful.errors import InvalidRequestError
from wakeful.run.webhooks.allow import AllowList


def allow(*entries: str) -> AllowList:
    return AllowList(ServerConfig.build({"HOME": "/h"}, webhook_allow=entries).webhook_allow)


def allowed(allow_list: AllowList, address: str) -> bool:
    return allow_list.allows_address(ipaddress.ip_address(address))


async def refused(allow_list: AllowList, url: str) -> str:
    with pytest.raises(InvalidRequestError) as caught:
        await allow_list.accept(url)
    assert caught.value.field == "callback"
    return caught.value.message


def test_the_classes_of_addresses() -> None:
    loopback, private, public = allow("loopback"), allow("private"), allow("public")
    for address in ("127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"):
        assert allowed(loopback, address), address
        assert not allowed(private, address) and not allowed(public, address), address
    for address in ("10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "fd00::1"):
        assert allowed(private, address) and not allowed(loopback, address) and not allowed(public, address)
    for address in ("93.184.216.34", "2606:4700::1111", "172.32.0.1"):
        assert allowed(public, address) and not allowed(private, address)
    # Link-local (where clouds serve instance credentials) is in none of them.
    for address in ("169.254.169.254", "fe80::1", "0.0.0.0"):
        assert not any(allowed(a, address) for a in (loopback, private, public)), address
    nothing = allow("none")
    assert not any(allowed(nothing, a) for a in ("127.0.0.1", "10.0.0.1", "93.184.216.34"))


def test_networks_and_single_addresses() -> None:
    allow_list = allow("10.20.0.0/16", "192.0.2.7", "2001:db8::/32")
    assert allowed(allow_list, "10.20.3.4") and allowed(allow_list, "192.0.2.7")
    assert allowed(allow_list, "2001:db8::5") and allowed(allow_list, "::ffff:10.20.0.1")
    assert not allowed(allow_list, "10.21.0.1") and not allowed(allow_list, "192.0.2.8")
    assert not allowed(allow_list, "127.0.0.1")


def test_host_names_exact_or_under_a_domain() -> None:
    allow_list = allow("hooks.example.com", "*.corp.example")
    assert allow_list.allows_name("hooks.example.com") and allow_list.allows_name("HOOKS.example.com.")
    assert allow_list.allows_name("a.corp.example") and allow_list.allows_name("a.b.corp.example")
    assert not allow_list.allows_name("corp.example")  # the domain itself is not under itself
    assert not allow_list.allows_name("evilcorp.example") and not allow_list.allows_name("example.com")


async def test_urls_are_checked_before_anything_else() -> None:
    allow_list = allow("loopback")
    assert await allow_list.accept("http://127.0.0.1:8080/hook?x=1") == "http://127.0.0.1:8080/hook?x=1"
    assert await allow_list.accept("https://[::1]/hook") == "https://[::1]/hook"
    assert "http:// or https://" in await refused(allow_list, "ftp://127.0.0.1/hook")
    assert "http:// or https://" in await refused(allow_list, "/relative/hook")
    assert "longer than" in await refused(allow_list, "http://127.0.0.1/" + "a" * 3000)
    message = await refused(allow_list, "http://10.0.0.1/hook")
    assert "10.0.0.1 is not in the webhook allow-list" in message
    assert "169.254.169.254" in await refused(allow_list, "http://169.254.169.254/latest/meta-data")


async def test_a_name_must_resolve_to_allowed_addresses_and_is_then_connected_to_by_address() -> None:
    loopback = allow("loopback")
    target = await loopback.target("http://localhost:8080/hook?q=1")
    assert target.url.host in ("127.0.0.1", "::1") and target.url.port == 8080
    assert target.url.path == "/hook" and target.url.query == b"q=1"
    assert target.headers == {"Host": "localhost:8080"} and target.extensions == {}
    secure = await loopback.target("https://localhost/hook")
    # TLS still names the host: the certificate is checked against it, not against the address.
    assert secure.extensions == {"sni_hostname": "localhost"} and secure.headers == {"Host": "localhost"}
    message = await refused(allow("10.0.0.0/8"), "http://localhost/hook")
    assert "callback host localhost resolves to 127.0.0.1" in message
    assert "cannot be resolved" in await refused(loopback, "http://no-such-host.invalid/hook")


async def test_a_name_on_the_list_is_trusted_by_name() -> None:
    target = await allow("hooks.invalid").target("https://hooks.invalid/x")
    assert str(target.url) == "https://hooks.invalid/x"  # not resolved: connected to as it is named
    assert target.headers == {} and target.extensions == {}


@pytest.mark.parametrize(
    ("entries", "error"),
    [(("10.0.0.1/8",), "10.0.0.1/8"), (("http://x",), "http://x"), (("*",), "'*'"), (("a b",), "a b")],
)
def test_a_bad_entry_stops_the_server_naming_it(entries: tuple[str, ...], error: str) -> None:
    from wakeful.errors import StartupError

    with pytest.raises(StartupError, match="webhook_allow") as caught:
        ServerConfig.build({"HOME": "/h"}, webhook_allow=entries)
    assert error in str(caught.value)


def test_the_knobs_read_their_variables() -> None:
    env: dict[str, Any] = {
        "HOME": "/h",
        "WAKEFUL_WEBHOOK_ALLOW": "loopback, 10.0.0.0/8,Hooks.Example.com",
        "WAKEFUL_WEBHOOK_EVENTS": "run.failed,permission.asked",
        "WAKEFUL_WEBHOOK_URL": "https://hooks.example.com/wakeful",
        "WAKEFUL_WEBHOOK_SECRET": "s" * 32,
        "WAKEFUL_WEBHOOK_RETRY_FOR": "60",
    }
    config = ServerConfig.build(env)
    assert config.webhook_allow == ("loopback", ipaddress.ip_network("10.0.0.0/8"), "hooks.example.com")
    assert config.webhook_events == ("run.failed", "permission.asked")
    assert config.webhook_url == "https://hooks.example.com/wakeful" and config.webhook_retry_for == 60
    assert "s" * 32 not in repr(config)
    defaults = ServerConfig.build({"HOME": "/h"})
    assert defaults.webhook_allow == ("loopback",) and defaults.webhook_url is None
    assert defaults.webhook_events == ("run.finished", "run.failed", "permission.asked")


def test_bad_knobs_are_refused_without_showing_the_secret() -> None:
    from wakeful.errors import StartupError

    with pytest.raises(StartupError, match="WAKEFUL_WEBHOOK_EVENTS"):
        ServerConfig.build({"HOME": "/h", "WAKEFUL_WEBHOOK_EVENTS": "run.done"})
    with pytest.raises(StartupError, match="webhook_url"):
        ServerConfig.build({"HOME": "/h"}, webhook_url="ftp://x/y")
    with pytest.raises(StartupError, match="WAKEFUL_WEBHOOK_SECRET") as short:
        ServerConfig.build({"HOME": "/h", "WAKEFUL_WEBHOOK_SECRET": "tooshort"})
    assert "tooshort" not in str(short.value)
