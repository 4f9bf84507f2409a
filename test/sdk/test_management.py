"""User, namespace and topic management through Client (the routes the service has had from the start)."""

from __future__ import annotations

import pytest

from diaspora_event_sdk import WebAPIError

from support import User, new_name


def test_create_user_claims_the_sdk_namespace(user: User) -> None:
    subject = user.client.subject_openid
    assert user.namespace == f"ns-{subject.replace('-', '')[-12:]}"
    first = user.created
    assert first["status"] == "success", first
    assert first["subject"] == subject
    assert first["namespace"] == user.namespace
    assert isinstance(first["message"], str)

    again = user.client.create_user()
    assert again["status"] == "success", again
    assert again["namespace"] == user.namespace

    listed = user.client.list_namespaces()
    assert listed["status"] == "success", listed
    assert user.namespace in listed["namespaces"]


def test_topic_lifecycle(user: User) -> None:
    client = user.client
    name = new_name("t")
    created = client.create_topic(name)
    assert created["status"] == "success", created
    assert name in created["topics"]
    assert name in client.list_namespaces()["namespaces"][user.namespace]

    repeat = client.create_topic(name)
    assert repeat["status"] == "success", repeat
    assert name in repeat["topics"]

    recreated = client.recreate_topic(name)
    assert recreated["status"] == "success", recreated
    assert name in client.list_namespaces()["namespaces"][user.namespace]

    deleted = client.delete_topic(name)
    assert deleted["status"] == "success", deleted
    assert name not in deleted["topics"]
    assert name not in client.list_namespaces()["namespaces"][user.namespace]


def test_namespaces_are_private(user: User, other: User) -> None:
    assert other.namespace != user.namespace
    assert user.namespace not in other.client.list_namespaces()["namespaces"]
    assert other.namespace not in user.client.list_namespaces()["namespaces"]
    # The SDK's WebClient takes any namespace: the service refuses another user's with 404.
    with pytest.raises(WebAPIError) as refused:
        other.client.web_client.create_topic(other.client.subject_openid, user.namespace, new_name("t"))
    assert refused.value.http_status == 404


def test_subject_header_must_match_the_token(user: User, other: User) -> None:
    # The SDK sends its subject in a Subject header on every call; a token used for someone else is refused.
    with pytest.raises(WebAPIError) as refused:
        user.client.web_client.list_namespaces(other.client.subject_openid)
    assert refused.value.http_status == 403
