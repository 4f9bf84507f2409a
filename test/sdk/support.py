"""Helpers of the SDK suite: names, reading records back, raw HTTP where the SDK offers no call."""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import typing as t

import requests

from diaspora_event_sdk import Client, RESTConsumer

V2 = "application/vnd.kafka.v2+json"


@dataclasses.dataclass
class User:
    client: Client
    token: str
    #: The reply of the session's first create_user().
    created: dict[str, t.Any]

    @property
    def namespace(self) -> str:
        return self.client.namespace


def new_name(prefix: str) -> str:
    """A topic or group name no other test uses (3 to 32 letters, digits, - or _)."""
    return f"{prefix}{secrets.token_hex(6)}"


def compact(value: t.Any) -> bytes:
    """The bytes of a JSON value written compact, as the service writes JSON data (JSON.stringify)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def fetch_at_least(
    consumer: RESTConsumer, count: int, *, attempts: int = 30, timeout_ms: int = 1000
) -> list[dict[str, t.Any]]:
    """Fetch until `count` records came (a subscribed instance's first fetches may be empty while the group
    assigns partitions); fails after `attempts` fetches."""
    records: list[dict[str, t.Any]] = []
    for _ in range(attempts):
        records += consumer.fetch(timeout_ms=timeout_ms)
        if len(records) >= count:
            return records
    raise AssertionError(f"{len(records)} of {count} records after {attempts} fetches: {records!r}")


def read_at(
    client: Client, topic: str, offset: int, count: int = 1, *, format: t.Literal["binary", "json"] = "binary"
) -> list[dict[str, t.Any]]:
    """The `count` records from `offset` of partition 0, read by a new RESTConsumer (assigned, then seeked)."""
    with RESTConsumer(new_name("read"), client=client, format=format, auto_offset_reset="earliest") as consumer:
        consumer.assign([(topic, 0)])
        consumer.seek({(topic, 0): offset})
        records = fetch_at_least(consumer, count)
    assert [r["offset"] for r in records[:count]] == list(range(offset, offset + count)), records
    return records[:count]


def raw(user: User, method: str, url: str, **kwargs: t.Any) -> requests.Response:
    """A request outside the SDK, with the user's token and the headers the SDK sends to consumer routes."""
    headers = {
        "Authorization": f"Bearer {user.token}",
        "Subject": str(user.client.subject_openid),
        "Content-Type": V2,
        **kwargs.pop("headers", {}),
    }
    return requests.request(method, url, headers=headers, timeout=30, **kwargs)
