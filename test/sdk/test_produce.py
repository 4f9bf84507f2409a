"""Client.produce and Client.produce_batch (POST /api/v3/{ns}/topics/{topic}/records and …/records:batch).

Every record is read back with the SDK's own RESTConsumer: a binary instance gets the bytes the service wrote
to Kafka, a json instance the values the SDK README promises.
"""

from __future__ import annotations

import typing as t
from datetime import datetime, timedelta, timezone

import pytest

from diaspora_event_sdk import Client, WebAPIError

from support import User, compact, new_name, read_at

REPLY_FIELDS = {"topic_name", "partition_id", "offset", "timestamp"}
#: Over Kafka's default record limit (max.message.bytes 1048588), under the test server's body limit.
TOO_LARGE = 1_100_000
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def instant(iso: str) -> datetime:
    """An ISO 8601 timestamp of a reply, which must carry a UTC offset (`Z` or ±hh:mm)."""
    parsed = datetime.fromisoformat(iso)
    assert parsed.utcoffset() is not None, f"{iso!r} has no UTC offset"
    return parsed


def epoch_ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


class Case(t.NamedTuple):
    id: str
    produce: dict[str, t.Any]
    key: bytes | None
    value: bytes | None
    #: What a json RESTConsumer returns for the key and value.
    json_key: t.Any
    json_value: t.Any


DICT = {"id": 7, "tags": ["a", "é"], "ok": True, "none": None, "nested": {"x": []}}

CASES = [
    Case("value-bytes", {"value": b"bin\x00ary"}, None, b"bin\x00ary", None, "bin\x00ary"),
    Case("value-str-is-json", {"value": "done"}, None, b'"done"', None, "done"),
    Case("value-dict", {"value": DICT}, None, compact(DICT), None, DICT),
    Case("value-list", {"value": [1, "two", False]}, None, b'[1,"two",false]', None, [1, "two", False]),
    Case("value-int", {"value": 42}, None, b"42", None, 42),
    Case("value-bool", {"value": True}, None, b"true", None, True),
    Case("value-type-string", {"value": "plain text", "value_type": "STRING"}, None, b"plain text", None, "plain text"),
    Case("value-type-binary", {"value": bytearray(b'{"a":1}'), "value_type": "BINARY"}, None, b'{"a":1}', None, {"a": 1}),
    Case("key-str-is-string", {"key": "job-42", "value": 1}, b"job-42", b"1", "job-42", 1),
    Case("key-str-number", {"key": "42", "value": 2}, b"42", b"2", 42, 2),
    Case("key-bytes", {"key": b"k\x01", "value": 3}, b"k\x01", b"3", "k\x01", 3),
    Case("key-int-is-json", {"key": 7, "value": 4}, b"7", b"4", 7, 4),
    Case("key-dict", {"key": {"user": "u1"}, "value": 5}, b'{"user":"u1"}', b"5", {"user": "u1"}, 5),
    Case("key-type-json", {"key": "k", "key_type": "JSON", "value": 6}, b'"k"', b"6", "k", 6),
    Case("key-type-binary", {"key": b"raw", "key_type": "BINARY", "value": 7}, b"raw", b"7", "raw", 7),
    Case("key-only", {"key": "tombstone"}, b"tombstone", None, "tombstone", None),
]
IDS = [case.id for case in CASES]


@pytest.fixture(scope="module")
def typed(user: User) -> t.Iterator[tuple[str, list[dict[str, t.Any]]]]:
    """A topic holding one record per case, produced in order; the replies."""
    client = user.client
    name = new_name("types")
    assert client.create_topic(name)["status"] == "success"
    yield name, [client.produce(name, **case.produce) for case in CASES]
    client.delete_topic(name)


@pytest.fixture(scope="module")
def typed_binary(user: User, typed: tuple[str, list[dict[str, t.Any]]]) -> list[dict[str, t.Any]]:
    return read_at(user.client, typed[0], 0, len(CASES), format="binary")


@pytest.fixture(scope="module")
def typed_json(user: User, typed: tuple[str, list[dict[str, t.Any]]]) -> list[dict[str, t.Any]]:
    return read_at(user.client, typed[0], 0, len(CASES), format="json")


def test_replies_name_the_record(typed: tuple[str, list[dict[str, t.Any]]]) -> None:
    name, replies = typed
    for offset, reply in enumerate(replies):
        assert REPLY_FIELDS <= reply.keys(), reply
        assert reply["topic_name"] == name
        assert reply["partition_id"] == 0
        # A new topic, one producer: the records are the offsets 0, 1, 2, … in the order produced.
        assert reply["offset"] == offset
        instant(reply["timestamp"])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_binary_consumer_reads_the_bytes_produced(case: Case, typed_binary: list[dict[str, t.Any]]) -> None:
    record = typed_binary[IDS.index(case.id)]
    assert record["key"] == case.key
    assert record["value"] == case.value
    assert record["headers"] == []


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_json_consumer_reads_the_values_produced(case: Case, typed_json: list[dict[str, t.Any]]) -> None:
    record = typed_json[IDS.index(case.id)]
    assert record["key"] == case.json_key
    assert type(record["key"]) is type(case.json_key)
    assert record["value"] == case.json_value
    assert type(record["value"]) is type(case.json_value)
    assert record["headers"] == []


def test_empty_string_value_is_empty_not_null(client: Client, topic: str) -> None:
    reply = client.produce(topic, "", value_type="STRING")
    assert read_at(client, topic, reply["offset"])[0]["value"] == b""


def test_headers_keep_order_repeats_and_nulls(client: Client, topic: str) -> None:
    listed = [("h1", b"\x00\xff"), ("h2", "é text"), ("h3", None), ("h1", b"again")]
    first = client.produce(topic, {"n": 1}, headers=listed)
    second = client.produce(topic, {"n": 2}, headers={"a": "1", "b": None})
    want = [
        [("h1", b"\x00\xff"), ("h2", "é text".encode()), ("h3", None), ("h1", b"again")],
        [("a", b"1"), ("b", None)],
    ]
    assert second["offset"] == first["offset"] + 1
    for format in ("binary", "json"):
        records = read_at(client, topic, first["offset"], 2, format=format)
        got = [[(h["name"], h["value"]) for h in record["headers"]] for record in records]
        assert got == want, format


def test_timestamps(client: Client, topic: str) -> None:
    eastern = datetime(2026, 1, 2, 0, 0, 0, tzinfo=timezone(timedelta(hours=-5)))
    precise = datetime(2026, 10, 26, 15, 4, 5, 123456, tzinfo=timezone.utc)
    given = [
        (eastern, eastern),
        (precise, precise.replace(microsecond=123000)),  # Kafka keeps milliseconds
        ("2026-10-26T15:04:05.123Z", datetime(2026, 10, 26, 15, 4, 5, 123000, tzinfo=timezone.utc)),
        ("2026-03-01T08:00:00+02:00", datetime(2026, 3, 1, 6, 0, 0, tzinfo=timezone.utc)),
    ]
    replies = [client.produce(topic, {"i": i}, timestamp=ts) for i, (ts, _) in enumerate(given)]
    unset = client.produce(topic, {"i": "broker time"})
    for reply, (_, want) in zip(replies, given):
        assert instant(reply["timestamp"]) == want, reply
    records = read_at(client, topic, replies[0]["offset"], len(given) + 1)
    # The record's Kafka timestamp (epoch ms, a field the service adds to fetched records).
    for record, (_, want) in zip(records, given):
        assert record["timestamp"] == epoch_ms(want), record
    assert records[-1]["timestamp"] == epoch_ms(instant(unset["timestamp"]))


def test_sdk_refuses_a_naive_datetime_before_sending(client: Client, topic: str) -> None:
    with pytest.raises(ValueError):
        client.produce(topic, "x", timestamp=datetime(2026, 10, 26, 15, 4, 5))
    # A string is sent as given: the service refuses one without a UTC offset.
    with pytest.raises(WebAPIError) as refused:
        client.produce(topic, "x", timestamp="2026-10-26T15:04:05")
    assert (refused.value.http_status, refused.value.error_code) == (400, 40005)
    # Nothing was written: the next record is the topic's first.
    assert client.produce(topic, "after")["offset"] == 0


def test_batch_entries_succeed_or_fail_on_their_own(client: Client, topic: str) -> None:
    aware = datetime(2026, 5, 4, 3, 2, 1, tzinfo=timezone.utc)
    entries = [
        {"id": "first", "key": "k1", "value": {"n": 1}},
        {"value": b"second"},  # no id: the SDK gives its index, "1"
        {"id": "naive", "value": "x", "timestamp": "2026-10-26T15:04:05"},
        {"id": "too_big", "value": b"\x00" * TOO_LARGE},
        {"id": "last-one", "value": "end", "headers": {"h": "v"}, "timestamp": aware},
    ]
    reply = client.produce_batch(topic, entries)
    assert set(reply) >= {"successes", "failures"}, reply
    successes, failures = reply["successes"], reply["failures"]
    assert [s["id"] for s in successes] == ["first", "1", "last-one"]
    for success in successes:
        assert REPLY_FIELDS <= success.keys(), success
        assert success["topic_name"] == topic
        assert success["partition_id"] == 0
    # Only the good entries were written (a new topic: offsets 0 to 2).
    assert sorted(s["offset"] for s in successes) == [0, 1, 2]
    assert instant(successes[2]["timestamp"]) == aware
    assert {f["id"]: f["error_code"] for f in failures} == {"naive": 40005, "too_big": 41302}
    for failure in failures:
        assert isinstance(failure["message"], str) and failure["message"], failure

    by_offset = {r["offset"]: r for r in read_at(client, topic, 0, 3)}
    written = {s["id"]: by_offset[s["offset"]] for s in successes}
    assert (written["first"]["key"], written["first"]["value"]) == (b"k1", b'{"n":1}')
    assert (written["1"]["key"], written["1"]["value"]) == (None, b"second")
    assert written["last-one"]["value"] == b'"end"'
    assert [(h["name"], h["value"]) for h in written["last-one"]["headers"]] == [("h", b"v")]


def test_batch_ids_are_checked(client: Client, topic: str) -> None:
    with pytest.raises(ValueError):  # the SDK refuses repeated ids itself
        client.produce_batch(topic, [{"id": "a", "value": 1}, {"id": "a", "value": 2}])
    for bad in ("not valid!", "x" * 81):
        with pytest.raises(WebAPIError) as refused:
            client.produce_batch(topic, [{"id": "ok", "value": 1}, {"id": bad, "value": 2}])
        assert 400 <= refused.value.http_status < 500, bad
        assert isinstance(refused.value.error_code, int)
    with pytest.raises(WebAPIError) as too_many:
        client.produce_batch(topic, [{"value": i} for i in range(501)])
    assert 400 <= too_many.value.http_status < 500
    # A request-level refusal writes nothing; 500 entries are one batch.
    reply = client.produce_batch(topic, [{"value": i} for i in range(500)])
    assert (len(reply["successes"]), reply["failures"]) == (500, [])
    assert sorted(s["offset"] for s in reply["successes"]) == list(range(500))


def test_produce_errors_carry_the_service_code(user: User, other: User, topic: str) -> None:
    client = user.client
    with pytest.raises(WebAPIError) as missing:
        client.produce(new_name("absent"), "x")
    assert (missing.value.http_status, missing.value.error_code) == (404, 40401)
    assert isinstance(missing.value.message, str) and missing.value.message

    with pytest.raises(WebAPIError) as empty:
        client.produce(topic)  # neither key nor value
    assert empty.value.http_status in (400, 422)
    assert isinstance(empty.value.error_code, int)

    with pytest.raises(WebAPIError) as large:
        client.produce(topic, b"\x00" * TOO_LARGE)
    assert large.value.http_status == 413
    assert isinstance(large.value.error_code, int)

    # Nothing of the above was written.
    assert client.produce(topic, "first")["offset"] == 0


def test_another_users_namespace_is_not_found(user: User, other: User) -> None:
    name = new_name("theirs")
    assert other.client.create_topic(name)["status"] == "success"
    try:
        for produce in (
            lambda: user.client.produce(name, "intruder", namespace=other.namespace),
            lambda: user.client.produce_batch(name, [{"value": "intruder"}], namespace=other.namespace),
        ):
            with pytest.raises(WebAPIError) as refused:
                produce()
            assert refused.value.http_status == 404
        # The owner's first record is the topic's first: nothing else got in.
        assert other.client.produce(name, "owner")["offset"] == 0
        # And the owner's namespace argument works.
        assert other.client.produce(name, "again", namespace=other.namespace)["offset"] == 1
    finally:
        other.client.delete_topic(name)
