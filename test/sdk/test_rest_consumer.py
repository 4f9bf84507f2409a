"""RESTConsumer (the consumer routes under /api/v2/consumers, in the caller's default namespace)."""

from __future__ import annotations

import typing as t

import pytest

from diaspora_event_sdk import Client, CommitLostError, RESTConsumer, WebAPIError

from support import User, fetch_at_least, new_name, raw, read_at

#: What the `filled` topic holds, as produced by the SDK: (produce arguments, binary key and value, json key
#: and value, headers as read back).
RECORDS: list[tuple[dict[str, t.Any], tuple[t.Any, t.Any], tuple[t.Any, t.Any], list[tuple[str, t.Any]]]] = [
    ({"key": "job-42", "value": {"step": 0}, "headers": {"trace": b"t0"}}, (b"job-42", b'{"step":0}'), ("job-42", {"step": 0}), [("trace", b"t0")]),
    ({"key": "42", "value": "text"}, (b"42", b'"text"'), (42, "text"), []),
    ({"value": b"raw-bytes"}, (None, b"raw-bytes"), (None, "raw-bytes"), []),
]
N = len(RECORDS)
FORMATS = ["binary", "json"]


@pytest.fixture
def filled(client: Client, topic: str) -> str:
    """The `topic` fixture holding RECORDS at offsets 0, 1 and 2."""
    for offset, (produce, *_) in enumerate(RECORDS):
        assert client.produce(topic, **produce)["offset"] == offset
    return topic


def check_records(records: list[dict[str, t.Any]], topic: str, format: str, first: int = 0) -> None:
    assert [r["offset"] for r in records] == list(range(first, N))
    for record, (_, binary, json, headers) in zip(records, RECORDS[first:]):
        assert record["topic"] == topic  # named without the namespace
        assert record["partition"] == 0
        assert (record["key"], record["value"]) == (binary if format == "binary" else json)
        assert [(h["name"], h["value"]) for h in record["headers"]] == headers


@pytest.mark.parametrize("format", FORMATS)
def test_subscribe_fetch_commit(client: Client, filled: str, format: str) -> None:
    group = new_name("g")
    consumer = RESTConsumer(group, client=client, format=format, auto_offset_reset="earliest")
    assert consumer.base_uri.startswith(client.web_client.base_url.rstrip("/") + "/api/v2/consumers/")
    consumer.subscribe([filled])
    assert consumer.subscription() == [filled]
    check_records(fetch_at_least(consumer, N), filled, format)
    assert consumer.assignment() == [(filled, 0)]
    assert consumer.committed([(filled, 0)]) == {}  # nothing committed yet: left out
    consumer.commit()
    assert consumer.committed([(filled, 0)]) == {(filled, 0): N}
    consumer.close()
    assert consumer.closed

    # The group resumes at its commit: a new instance gets only what came after.
    after = client.produce(filled, "after", key="k")
    with RESTConsumer(group, client=client, format=format) as again:
        again.subscribe([filled])
        records = fetch_at_least(again, 1)
    assert [r["offset"] for r in records] == [after["offset"]] == [N]
    assert records[0]["value"] == (b'"after"' if format == "binary" else "after")
    assert again.closed


def test_commit_explicit_offsets(client: Client, filled: str) -> None:
    with RESTConsumer(new_name("g"), client=client, auto_offset_reset="earliest") as consumer:
        consumer.assign([(filled, 0)])
        check_records(fetch_at_least(consumer, N), filled, "binary")
        # The offset of the last record processed: the group commits the one after it.
        consumer.commit({(filled, 0): 0})
        assert consumer.committed([(filled, 0)]) == {(filled, 0): 1}
        consumer.commit({(filled, 0): 1})
        assert consumer.committed([(filled, 0)]) == {(filled, 0): 2}


def test_seek(client: Client, filled: str) -> None:
    tp = (filled, 0)
    with RESTConsumer(new_name("g"), client=client, auto_offset_reset="earliest") as consumer:
        consumer.assign([tp])
        assert consumer.assignment() == [tp]
        consumer.seek({tp: 1})
        check_records(fetch_at_least(consumer, N - 1), filled, "binary", first=1)
        consumer.seek_to_beginning([tp])
        check_records(fetch_at_least(consumer, N), filled, "binary")
        consumer.seek_to_beginning()  # no partitions: every assigned one
        check_records(fetch_at_least(consumer, N), filled, "binary")

        consumer.seek_to_end([tp])
        produced = client.produce(filled, "at the end")["offset"]
        assert [r["offset"] for r in fetch_at_least(consumer, 1)] == [produced]
        consumer.seek({tp: 0})
        fetch_at_least(consumer, 1)
        consumer.seek_to_end()  # no partitions: every assigned one
        produced = client.produce(filled, "at the end again")["offset"]
        assert [r["offset"] for r in fetch_at_least(consumer, 1)] == [produced]


def test_seek_a_subscription(client: Client, filled: str) -> None:
    with RESTConsumer(new_name("g"), client=client, format="json", auto_offset_reset="earliest") as consumer:
        consumer.subscribe([filled])
        check_records(fetch_at_least(consumer, N), filled, "json")
        consumer.seek_to_beginning()  # the partitions the group gave
        check_records(fetch_at_least(consumer, N), filled, "json")
        consumer.seek({(filled, 0): 2})
        check_records(fetch_at_least(consumer, 1), filled, "json", first=2)


def test_assign_unsubscribe_subscribe(client: Client, filled: str) -> None:
    tp = (filled, 0)
    with RESTConsumer(new_name("g"), client=client, auto_offset_reset="earliest") as consumer:
        consumer.assign([tp])
        assert consumer.assignment() == [tp]
        consumer.unsubscribe()  # also drops a manual assignment
        assert consumer.assignment() == []
        consumer.subscribe([filled])  # no conflict with the dropped assignment
        check_records(fetch_at_least(consumer, N), filled, "binary")
        assert consumer.subscription() == [filled]
        consumer.unsubscribe()
        assert consumer.subscription() == []
        assert consumer.assignment() == []


def test_recovers_after_its_instance_is_deleted(user: User, filled: str) -> None:
    client = user.client
    with RESTConsumer(new_name("g"), client=client, auto_offset_reset="earliest") as consumer:
        consumer.subscribe([filled])
        check_records(fetch_at_least(consumer, N), filled, "binary")
        consumer.commit({(filled, 0): 0})
        name, base_uri = consumer.name, consumer.base_uri

        assert raw(user, "DELETE", base_uri).status_code == 204
        gone = raw(user, "GET", base_uri + "/subscription")
        assert (gone.status_code, gone.json()["error_code"]) == (404, 40403)

        # The next fetch finds the instance gone, creates it again under the same name (with several nodes, on
        # whichever node the request reached), subscribes it and retries: the group resumes at its commit.
        check_records(fetch_at_least(consumer, N - 1), filled, "binary", first=1)
        assert consumer.name == name
        assert consumer.subscription() == [filled]
        assert raw(user, "GET", consumer.base_uri + "/subscription").json() == {"topics": [filled]}


def test_commit_after_its_instance_is_deleted_is_lost(user: User, filled: str) -> None:
    client = user.client
    with RESTConsumer(new_name("g"), client=client, format="json", auto_offset_reset="earliest") as consumer:
        consumer.subscribe([filled])
        check_records(fetch_at_least(consumer, N), filled, "json")
        assert raw(user, "DELETE", consumer.base_uri).status_code == 204
        with pytest.raises(CommitLostError) as lost:
            consumer.commit()
        assert (lost.value.http_status, lost.value.error_code) == (404, 40403)
        assert consumer.committed([(filled, 0)]) == {}
        # Nothing was committed: the new instance reads everything again.
        check_records(fetch_at_least(consumer, N), filled, "json")
        consumer.commit()
        assert consumer.committed([(filled, 0)]) == {(filled, 0): N}


def test_close_deletes_the_instance(user: User) -> None:
    consumer = RESTConsumer(new_name("g"), client=user.client)
    alive = raw(user, "GET", consumer.base_uri + "/subscription")
    assert (alive.status_code, alive.json()) == (200, {"topics": []})
    consumer.close()
    gone = raw(user, "GET", consumer.base_uri + "/subscription")
    assert (gone.status_code, gone.json()["error_code"]) == (404, 40403)
    consumer.close()  # a second close does nothing
    with pytest.raises(RuntimeError):
        consumer.fetch(timeout_ms=100)


def test_instance_names_are_unique_in_a_group(client: Client) -> None:
    group = new_name("g")
    with RESTConsumer(group, client=client, name="worker-1") as first:
        assert first.name == "worker-1"
        # With several nodes, whichever node each create reaches (README: names are claimed across the nodes).
        for _ in range(3):
            with pytest.raises(WebAPIError) as taken:
                RESTConsumer(group, client=client, name="worker-1")
            assert (taken.value.http_status, taken.value.error_code) == (409, 40902)


def test_instances_are_private(user: User, other: User) -> None:
    with RESTConsumer(new_name("g"), client=user.client) as consumer:
        for method, route in (("GET", "/subscription"), ("DELETE", "")):
            theirs = raw(other, method, consumer.base_uri + route)
            assert (theirs.status_code, theirs.json()["error_code"]) == (404, 40403), (method, route)
        assert consumer.subscription() == []  # still there


def test_json_format_refuses_bytes_that_are_not_utf8(client: Client, topic: str) -> None:
    offset = client.produce(topic, b"\xff\xfe not text")["offset"]
    assert read_at(client, topic, offset)[0]["value"] == b"\xff\xfe not text"
    with RESTConsumer(new_name("g"), client=client, format="json", auto_offset_reset="earliest") as consumer:
        consumer.assign([(topic, 0)])
        with pytest.raises(WebAPIError) as refused:
            fetch_at_least(consumer, 1)
        assert (refused.value.http_status, refused.value.error_code) == (422, 42203)
