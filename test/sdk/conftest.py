"""The Diaspora SDK (diaspora-event-sdk, unmodified) against a running diaspora-service.

Run by test/integration/sdk.test.ts, which starts the app with a local Globus stand-in and passes:

    DIASPORA_TEST_BASE_URL        the service, e.g. http://127.0.0.1:41234
    DIASPORA_TEST_TOKEN           a token the service accepts for DIASPORA_TEST_SUBJECT
    DIASPORA_TEST_SUBJECT
    DIASPORA_TEST_OTHER_TOKEN     a second user, for the isolation checks
    DIASPORA_TEST_OTHER_SUBJECT
    DIASPORA_TEST_TIMEOUT_S       per-test limit in seconds (default 90)

Only what the SDK's own tests patch is patched: the identity lookup (Globus Auth's userinfo, which would
need a real Globus login) and the base URL. Everything the SDK sends and reads is its own code.
"""

from __future__ import annotations

import os
import signal
import typing as t
from unittest import mock

import globus_sdk
import pytest

import diaspora_event_sdk.sdk.client as sdk_client
from diaspora_event_sdk import Client

from support import User, new_name

TIMEOUT_S = int(os.environ.get("DIASPORA_TEST_TIMEOUT_S") or "90")


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        # A usage error, not a skip: a run without its server must fail.
        raise pytest.UsageError(
            f"{name} is not set; run the suite through "
            "`npm test -- test/integration/sdk.test.ts`"
        )
    return value


class TimeLimitExceeded(BaseException):
    """A test ran past DIASPORA_TEST_TIMEOUT_S (a BaseException, so that no `except Exception` swallows it)."""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """Per-test time limit (setup, call and teardown): the test fails instead of hanging."""

    def expire(signum: int, frame: t.Any) -> None:
        raise TimeLimitExceeded(f"{item.nodeid} ran past {TIMEOUT_S} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(TIMEOUT_S)
    try:
        return (yield)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="session")
def base_url() -> str:
    return _env("DIASPORA_TEST_BASE_URL").rstrip("/")


@pytest.fixture(scope="session")
def subjects() -> dict[str, str]:
    """Token to subject, for the identity patch."""
    return {
        _env("DIASPORA_TEST_TOKEN"): _env("DIASPORA_TEST_SUBJECT"),
        _env("DIASPORA_TEST_OTHER_TOKEN"): _env("DIASPORA_TEST_OTHER_SUBJECT"),
    }


@pytest.fixture(scope="session", autouse=True)
def sdk_patches(base_url: str, subjects: dict[str, str]) -> t.Iterator[None]:
    """The base URL is the test server, and Globus Auth's userinfo answers the token's subject.

    Client._resolve_identity itself still runs, so the namespace is the one the SDK derives.
    """
    resolve_identity = Client._resolve_identity

    def resolve_from_token(self: Client) -> None:
        assert isinstance(self.authorizer, globus_sdk.AccessTokenAuthorizer)
        subject = subjects[self.authorizer.access_token]
        with mock.patch.object(
            globus_sdk.AuthClient, "userinfo", lambda _auth: {"sub": subject}
        ):
            resolve_identity(self)

    with mock.patch.object(
        sdk_client, "get_web_service_url", lambda environment=None: base_url
    ), mock.patch.object(Client, "_resolve_identity", resolve_from_token):
        yield


def _user(token: str) -> t.Iterator[User]:
    client = Client(authorizer=globus_sdk.AccessTokenAuthorizer(token))
    user = User(client=client, token=token, created=client.create_user())
    yield user
    # Deletes the user's topics too (the tap test also drops any Kafka topic left in the namespace).
    reply = client.delete_user()
    assert reply["status"] == "success", reply


@pytest.fixture(scope="session")
def user(sdk_patches: None) -> t.Iterator[User]:
    """The main user, created once for the session (POST /api/v3/user) and deleted at its end."""
    yield from _user(_env("DIASPORA_TEST_TOKEN"))


@pytest.fixture(scope="session")
def other(sdk_patches: None) -> t.Iterator[User]:
    """A second user, whose namespace the main user must not reach (and the other way round)."""
    yield from _user(_env("DIASPORA_TEST_OTHER_TOKEN"))


@pytest.fixture(scope="session")
def client(user: User) -> Client:
    return user.client


@pytest.fixture
def topic(client: Client) -> t.Iterator[str]:
    """A new topic in the main user's default namespace (one partition, 0), deleted afterwards."""
    name = new_name("t")
    reply = client.create_topic(name)
    assert reply["status"] == "success", reply
    yield name
    client.delete_topic(name)
