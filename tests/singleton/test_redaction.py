"""No password or token of REDIS_URL ever reaches a log line (or an HTTP answer).

Unit cases for :func:`singleton._redis.redact_url`, then whole sessions against a real
password-protected redis-server, one per form of secret, with every log record of every
logger captured at DEBUG and searched for the secret.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis
from redis.credentials import UsernamePasswordCredentialProvider

from singleton import ConfigurationError, Leases, SingletonStarter
from singleton._redis import RedisSettings, create_redis_client, redact_url
from singleton._settings import Settings
from singleton.functions.http import handle_start_request
from tests.redis_servers import RedisServer, running_redis_server
from tests.singleton.durable_app import ECHO
from tests.singleton.harness import DurableHost, post

DEFAULT_PASSWORD = "Def4ult-Pa55"
ALICE_TOKEN = "alice-T0ken-9f8e"
BOB_PASSWORD = "b0b@p/ss?#w"  # needs percent-encoding in a URL
BOB_ENCODED = "b0b%40p%2Fss%3F%23w"
ENTRA_SECRET = "entra-Cl1ent-Secret"
WRONG_PASSWORD = "Wr0ng-Pa55"
LOOSE_TOKEN = "l00se-access-key"


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:pw@h:1/0", "redis://:***@h:1/0"),
        ("rediss://user:pw@h:6380", "rediss://user:***@h:6380"),
        ("redis://user:p%40w@h", "redis://user:***@h"),
        ("redis://:p@ss@h", "redis://:***@h"),  # an unencoded @ in the password
        ("redis://:pa/ss@h/0", "redis://***@h/0"),  # an unencoded / : hide all before the @
        ("redis://token@h", "redis://***@h"),  # a token written as the user
        ("redis://h/0?password=pw", "redis://h/0?password=***"),
        (
            "redis://h/0?username=u&password=pw&socket_timeout=1",
            "redis://h/0?username=u&password=***&socket_timeout=1",
        ),
        ("redis://h/0?access_token=t&sig=s", "redis://h/0?access_token=***&sig=***"),
        ("redis://h/0?Pass%77ord=pw", "redis://h/0?Pass%77ord=***"),
        ("redis://h/0#secret", "redis://h/0#***"),
        ("h:6379 pw", "***"),  # not a URL: nothing of it
        ("", "***"),
    ],
)
def test_redact_url(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted


def test_a_malformed_url_error_shows_no_piece_of_the_password() -> None:
    with pytest.raises(ConfigurationError) as caught:
        RedisSettings.from_environ({"REDIS_URL": "redis://:secret/part@h:1"})
    assert "secret" not in str(caught.value)
    assert "part" not in str(caught.value)
    with pytest.raises(ConfigurationError) as caught:
        RedisSettings.from_environ({"REDIS_URL": "http://user:hunter2@h"})
    assert "hunter2" not in str(caught.value)


@pytest.fixture(scope="module")
def locked_server() -> Iterator[RedisServer]:
    """A redis-server with a default password and two ACL users."""
    with running_redis_server(
        "--requirepass",
        DEFAULT_PASSWORD,
        "--user",
        "alice",
        "on",
        f">{ALICE_TOKEN}",
        "~*",
        "&*",
        "+@all",
        "--user",
        "bob",
        "on",
        f">{BOB_PASSWORD}",
        "~*",
        "&*",
        "+@all",
    ) as server:
        yield server


SECRETS = (
    DEFAULT_PASSWORD,
    ALICE_TOKEN,
    BOB_PASSWORD,
    BOB_ENCODED,
    ENTRA_SECRET,
    WRONG_PASSWORD,
    LOOSE_TOKEN,
)

#: (REDIS_URL template, its secret, the answer the start gets)
SESSIONS = [
    ("redis://:{p}@127.0.0.1:{port}/0", DEFAULT_PASSWORD, 202),
    ("redis://127.0.0.1:{port}/0?password={p}", DEFAULT_PASSWORD, 202),
    ("redis://alice:{a}@127.0.0.1:{port}/0", ALICE_TOKEN, 202),
    ("redis://127.0.0.1:{port}/0?username=alice&password={a}", ALICE_TOKEN, 202),
    ("redis://bob:{b}@127.0.0.1:{port}/0", BOB_ENCODED, 202),
    ("redis://:{w}@127.0.0.1:{port}/0", WRONG_PASSWORD, 503),  # refused: logged with its error
    ("redis://{t}@127.0.0.1:{port}/0", LOOSE_TOKEN, 503),  # no AUTH sent: NOAUTH
]


def _url(template: str, port: int) -> str:
    return template.format(
        p=DEFAULT_PASSWORD, a=ALICE_TOKEN, b=BOB_ENCODED, w=WRONG_PASSWORD, t=LOOSE_TOKEN, port=port
    )


def _assert_no_secret(caplog: pytest.LogCaptureFixture, *texts: str) -> None:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    logged = [formatter.format(record) for record in caplog.records]
    assert logged, "the session logged nothing: the test would prove nothing"
    for text in (*logged, *texts):
        for secret in SECRETS:
            assert secret not in text


async def _session(
    environ: dict[str, str],
    durable: DurableHost,
    instance_id: str,
    client: aioredis.Redis | None = None,
) -> tuple[int, str]:
    settings = Settings.from_environ(environ)
    redis = client if client is not None else create_redis_client(settings.redis)
    leases = Leases(redis, namespace=settings.key_prefix)
    starter = SingletonStarter(leases=leases)
    try:
        response = await handle_start_request(
            post(ECHO, instance_id), durable.client(), lambda: starter
        )
    finally:
        await leases.aclose()
        await redis.aclose()
    return response.status_code, response.get_body().decode()


@pytest.mark.redis
@pytest.mark.parametrize(("template", "secret", "status"), SESSIONS)
async def test_no_form_of_the_url_secret_is_ever_logged(
    locked_server: RedisServer,
    durable: DurableHost,
    caplog: pytest.LogCaptureFixture,
    template: str,
    secret: str,
    status: int,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: ours, redis-py's, aiohttp's, asyncio's
    url = _url(template, locked_server.port)
    assert secret in url
    answered, body = await _session(
        {"REDIS_URL": url}, durable, f"redact-{SESSIONS.index((template, secret, status))}"
    )
    assert answered == status
    _assert_no_secret(caplog, body)


@pytest.mark.redis
async def test_the_entra_client_secret_is_never_logged(
    locked_server: RedisServer, durable: DurableHost, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    environ = {
        "REDIS_URL": f"redis://127.0.0.1:{locked_server.port}/0",
        "REDIS_ENTRA_AUTH": "service-principal",
        "REDIS_ENTRA_CLIENT_ID": "app-id",
        "REDIS_ENTRA_TENANT_ID": "tenant-id",
        "REDIS_ENTRA_CLIENT_SECRET": ENTRA_SECRET,
    }
    settings = Settings.from_environ(environ)
    # Azure is not reachable from tests: a stand-in provider hands out the token Entra would.
    client = create_redis_client(
        settings.redis, credential_provider=UsernamePasswordCredentialProvider("alice", ALICE_TOKEN)
    )
    answered, body = await _session(environ, durable, "redact-entra", client)
    assert answered == 202
    _assert_no_secret(caplog, body, repr(settings))


@pytest.mark.redis
async def test_a_malformed_url_is_a_500_whose_log_and_body_hide_the_password(
    durable: DurableHost, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    environ = {"REDIS_URL": f"redis://:{DEFAULT_PASSWORD}/x@127.0.0.1:notaport/0"}

    def starter() -> SingletonStarter:
        Settings.from_environ(environ)
        raise AssertionError("unreachable: the settings are malformed")

    response = await handle_start_request(post(ECHO, "redact-bad"), durable.client(), starter)
    assert response.status_code == 500
    _assert_no_secret(caplog, response.get_body().decode())
