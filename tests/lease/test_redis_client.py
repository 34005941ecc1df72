"""create_redis_client against real servers: TLS (rediss://) and Entra ID wiring (stand-in)."""

from __future__ import annotations

import asyncio
import ssl
import sys
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from redis.credentials import CredentialProvider

from singleton._errors import ConfigurationError, LeaseUnavailable
from singleton._redis import AZURE_REDIS_RESOURCE, RedisSettings, create_redis_client
from singleton.lease._leases import LeasePolicy, Leases
from tests.lease.servers import TlsFiles
from tests.redis_servers import RedisServer, running_redis_server

pytestmark = pytest.mark.redis


async def test_a_lease_over_tls_verified_against_the_configured_ca(
    tls_server: tuple[RedisServer, TlsFiles],
) -> None:
    server, files = tls_server
    settings = RedisSettings.from_environ(
        {"REDIS_URL": server.url, "REDIS_TLS_CA_FILE": str(files.ca)}
    )
    assert settings.url.startswith("rediss://")
    client = create_redis_client(settings)
    leases = Leases(client, namespace="tls", policy=LeasePolicy(ttl=5, wait=5, wake_fallback=30))
    try:
        holder = await leases.acquire("x")
        waiter = asyncio.create_task(leases.acquire("x"))
        await asyncio.sleep(0.2)
        await holder.release()
        lease = await asyncio.wait_for(waiter, 1)  # woken over the TLS pub/sub connection
        assert lease.fence > holder.fence
    finally:
        await leases.aclose()
        await client.aclose()


async def test_tls_without_the_ca_refuses_the_server(
    tls_server: tuple[RedisServer, TlsFiles],
) -> None:
    server, _ = tls_server
    settings = RedisSettings.from_environ({"REDIS_URL": server.url, "REDIS_RETRIES": "0"})
    client = create_redis_client(settings)
    leases = Leases(client, namespace="tls")
    try:
        with pytest.raises(LeaseUnavailable) as caught:
            await leases.acquire("x")
        causes: list[BaseException] = []
        cause: BaseException | None = caught.value
        while cause is not None and len(causes) < 10:
            causes.append(cause)
            cause = cause.__cause__ or cause.__context__
        assert any(isinstance(c, ssl.SSLCertVerificationError) for c in causes), causes
    finally:
        await leases.aclose()
        await client.aclose()


class StandInToken(CredentialProvider):
    """Plays Entra ID: hands out a fixed user and access token, counting the requests."""

    def __init__(self, user: str, token: str) -> None:
        self.user, self.token, self.requests = user, token, 0

    def get_credentials(self) -> tuple[str, str]:
        self.requests += 1
        return self.user, self.token


@pytest.fixture(scope="module")
def acl_server() -> Iterator[RedisServer]:
    """A redis-server that only admits user ``svc`` with password ``token-123``."""
    with running_redis_server(
        "--user", "default", "off", "--user", "svc", "on", ">token-123", "~*", "&*", "+@all"
    ) as server:
        yield server


def entra_settings(server: RedisServer, **extra: str) -> RedisSettings:
    return RedisSettings.from_environ(
        {
            "REDIS_URL": server.url,
            "REDIS_ENTRA_AUTH": "managed-identity",
            "REDIS_RETRIES": "0",
            **extra,
        }
    )


async def test_a_lease_with_entra_credentials_from_the_provider(acl_server: RedisServer) -> None:
    provider = StandInToken("svc", "token-123")
    client = create_redis_client(entra_settings(acl_server), credential_provider=provider)
    leases = Leases(client, namespace="entra")
    try:
        lease = await leases.acquire("x")
        assert await lease.release() is True
        assert provider.requests >= 1
    finally:
        await leases.aclose()
        await client.aclose()


async def test_a_rejected_token_is_lease_unavailable(acl_server: RedisServer) -> None:
    provider = StandInToken("svc", "expired-token")
    client = create_redis_client(entra_settings(acl_server), credential_provider=provider)
    leases = Leases(client, namespace="entra")
    try:
        with pytest.raises(LeaseUnavailable):
            await leases.acquire("x")
    finally:
        await leases.aclose()
        await client.aclose()


@pytest.fixture
def stand_in_entraid(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Replaces redis-entraid's provider factories (they would call Azure) by recorders that
    hand out the stand-in token; the package's real enums stay."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def factory(kind: str) -> Any:
        def create(**kwargs: Any) -> CredentialProvider:
            calls.append((kind, kwargs))
            return StandInToken("svc", "token-123")

        return create

    module = SimpleNamespace(
        create_from_managed_identity=factory("managed-identity"),
        create_from_service_principal=factory("service-principal"),
        create_from_default_azure_credential=factory("default"),
    )
    monkeypatch.setitem(sys.modules, "redis_entraid.cred_provider", module)
    return calls


async def test_each_entra_mode_builds_its_provider_and_connects(
    acl_server: RedisServer, stand_in_entraid: list[tuple[str, dict[str, Any]]]
) -> None:
    from redis_entraid.identity_provider import ManagedIdentityIdType, ManagedIdentityType

    environs = {
        "system-assigned": {"REDIS_ENTRA_AUTH": "managed-identity"},
        "user-assigned": {"REDIS_ENTRA_AUTH": "managed-identity", "REDIS_ENTRA_CLIENT_ID": "mi"},
        "service-principal": {
            "REDIS_ENTRA_AUTH": "service-principal",
            "REDIS_ENTRA_CLIENT_ID": "app",
            "REDIS_ENTRA_TENANT_ID": "tenant",
            "REDIS_ENTRA_CLIENT_SECRET": "secret",
        },
        "default": {"REDIS_ENTRA_AUTH": "default"},
    }
    for extra in environs.values():
        client = create_redis_client(entra_settings(acl_server, **extra))
        try:
            assert await client.ping() is True
        finally:
            await client.aclose()
    assert stand_in_entraid == [
        (
            "managed-identity",
            {
                "identity_type": ManagedIdentityType.SYSTEM_ASSIGNED,
                "resource": AZURE_REDIS_RESOURCE,
            },
        ),
        (
            "managed-identity",
            {
                "identity_type": ManagedIdentityType.USER_ASSIGNED,
                "resource": AZURE_REDIS_RESOURCE,
                "id_type": ManagedIdentityIdType.CLIENT_ID,
                "id_value": "mi",
            },
        ),
        (
            "service-principal",
            {"client_id": "app", "client_credential": "secret", "tenant_id": "tenant"},
        ),
        (
            "default",
            {"scopes": (f"{AZURE_REDIS_RESOURCE}/.default",), "tenant_id": None},
        ),
    ]


def test_entra_without_the_optional_package_is_a_configuration_error(
    acl_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "redis_entraid.cred_provider", None)  # import fails
    with pytest.raises(ConfigurationError, match="redis-entraid is not installed"):
        create_redis_client(entra_settings(acl_server))


async def test_the_url_options_that_pass_the_check_reach_the_connection(
    redis_server: RedisServer,
) -> None:
    """What the start-up check accepts, redis-py connects with: the database of the path
    and the client name of the query (read back from the real server)."""
    url = f"redis://{redis_server.host}:{redis_server.port}/3?socket_timeout=2&client_name=app"
    client = create_redis_client(RedisSettings.from_environ({"REDIS_URL": url}))
    try:
        await client.set("where", "db3")
        assert await client.client_getname() == "app"
        info = await client.client_info()
        assert int(info["db"]) == 3
    finally:
        await client.aclose()
