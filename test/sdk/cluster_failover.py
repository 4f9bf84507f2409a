"""The SDK across a node's death (issue 15), driven by test/integration/cluster.test.ts: not a pytest module.

Creates a RESTConsumer through the load balancer, subscribes it and reads the topic's first records, prints
its instance's base_uri as one JSON line, then waits for a line on stdin (the test kills the instance's node
meanwhile), fetches again and prints the instance id and the records it read. The SDK finds the instance
gone (40403 from the surviving nodes), creates it again and resubscribes by itself.

Environment: DIASPORA_TEST_BASE_URL, DIASPORA_TEST_TOKEN, DIASPORA_TEST_SUBJECT, DIASPORA_TEST_TOPIC,
DIASPORA_TEST_GROUP, DIASPORA_TEST_COUNT (records to read before and after).
"""

from __future__ import annotations

import json
import os
import sys
from unittest import mock

import globus_sdk

import diaspora_event_sdk.sdk.client as sdk_client
from diaspora_event_sdk import Client, RESTConsumer

base_url = os.environ["DIASPORA_TEST_BASE_URL"].rstrip("/")
token = os.environ["DIASPORA_TEST_TOKEN"]
subject = os.environ["DIASPORA_TEST_SUBJECT"]
topic = os.environ["DIASPORA_TEST_TOPIC"]
group = os.environ["DIASPORA_TEST_GROUP"]
count = int(os.environ["DIASPORA_TEST_COUNT"])

resolve_identity = Client._resolve_identity


def resolve_from_token(self: Client) -> None:
    with mock.patch.object(globus_sdk.AuthClient, "userinfo", lambda _auth: {"sub": subject}):
        resolve_identity(self)


def read(consumer: RESTConsumer) -> list[str]:
    values: list[str] = []
    for _ in range(40):
        # The SDK gives binary values as bytes.
        values += [bytes(r["value"]).decode() for r in consumer.fetch(timeout_ms=1000)]
        if len(values) >= count:
            return values
    raise AssertionError(f"{len(values)} of {count} records")


with mock.patch.object(sdk_client, "get_web_service_url", lambda environment=None: base_url), \
        mock.patch.object(Client, "_resolve_identity", resolve_from_token):
    client = Client(authorizer=globus_sdk.AccessTokenAuthorizer(token))
    consumer = RESTConsumer(group, client=client, auto_offset_reset="earliest")
    consumer.subscribe([topic])
    before = read(consumer)
    print(json.dumps({"base_uri": consumer.base_uri, "name": consumer.name, "records": before}), flush=True)
    sys.stdin.readline()
    after = read(consumer)
    print(json.dumps({"base_uri": consumer.base_uri, "name": consumer.name, "records": after}), flush=True)
    consumer.close()
