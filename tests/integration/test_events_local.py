"""bus-events-local over real HTTP: a subprocess server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt
import pytest

from bus_shim.events_local import (
    DEFAULT_AUDIENCE,
    LocalEventsServer,
    cli,
    mint_token,
    run_local_events_server,
)
from bus_shim.events_local.broker import Broker
from bus_shim.events_local.client import LocalEventsClient
from bus_shim.events_local.events import StoredEvent, build_event

pytestmark = pytest.mark.timeout(60)

ENVELOPE_KEYS = {"id", "name", "correlationId", "payload", "identity_id", "time"}
ALL_SCOPES = "events:send events:listen"
SECRET_ENV = cli.SECRET_ENV


@pytest.fixture(scope="module")
def server() -> Iterator[LocalEventsServer]:
    with run_local_events_server() as running:
        yield running


@pytest.fixture(scope="module")
def strict_server() -> Iterator[LocalEventsServer]:
    with run_local_events_server(strict=True, max_body_bytes=4096) as running:
        yield running


@pytest.fixture
def client(server: LocalEventsServer) -> Iterator[LocalEventsClient]:
    token = server.token(ALL_SCOPES, sub="tester")
    with LocalEventsClient(server.base_url, token) as events:
        yield events


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def unique_name(prefix: str = "test") -> str:
    """Return a fresh event name so tests never see each other's events."""
    return f"{prefix}.{uuid.uuid4().hex}.event"


def test_healthz_without_token(client: LocalEventsClient) -> None:
    response = client.http.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"ok": True}


def test_publish_stream_round_trip(client: LocalEventsClient) -> None:
    name = unique_name()
    with client.stream(name, delivery="broadcast") as stream:
        published = client.publish(name, payload={"n": 1})
        line = stream.next_line()
        content_type = stream.response.headers["content-type"]

    assert content_type == "application/x-ndjson"
    assert published.status_code == 202
    accepted = published.json()
    assert accepted["accepted"] is True
    assert accepted["name"] == name
    assert str(uuid.UUID(accepted["id"])) == accepted["id"]

    envelope = json.loads(line)
    assert set(envelope) == ENVELOPE_KEYS
    assert envelope["id"] == accepted["id"]
    assert envelope["name"] == name
    assert envelope["payload"] == {"n": 1}
    assert envelope["correlationId"] is None
    assert envelope["identity_id"] == "tester"
    assert envelope["time"].endswith("Z")
    assert datetime.fromisoformat(envelope["time"]).utcoffset() is not None
    assert line == json.dumps(envelope, separators=(",", ":"))


def test_broadcast_reaches_two_listeners(client: LocalEventsClient) -> None:
    name = unique_name()
    with (
        client.stream(name, delivery="broadcast") as first,
        client.stream(name) as second,
    ):
        event_id = client.publish(name).json()["id"]

        assert first.next_envelope()["id"] == event_id
        assert second.next_envelope()["id"] == event_id


def test_unicast_group_delivers_each_once(client: LocalEventsClient) -> None:
    name = unique_name()
    unicast = {"delivery": "unicast", "group": "workers"}
    with (
        client.stream(name, consumer="a", **unicast) as first,
        client.stream(name, consumer="b", **unicast) as second,
    ):
        ids = [client.publish(name, payload={"n": n}).json()["id"] for n in range(6)]
        # Round robin over two consumers gives each one half of the events.
        first_ids = [first.next_envelope()["id"] for _ in range(3)]
        second_ids = [second.next_envelope()["id"] for _ in range(3)]
        # Streams of earlier tests may still be closing, hence at least 2.
        assert client.drop_streams() >= 2
        assert first.remaining_lines() == []
        assert second.remaining_lines() == []

    assert sorted(first_ids + second_ids) == sorted(ids)
    assert set(first_ids).isdisjoint(second_ids)


def test_unicast_groups_each_get_event(client: LocalEventsClient) -> None:
    name = unique_name()
    with (
        client.stream(name, delivery="unicast", group="one") as first,
        client.stream(name, delivery="unicast", group="two") as second,
    ):
        event_id = client.publish(name).json()["id"]

        assert first.next_envelope()["id"] == event_id
        assert second.next_envelope()["id"] == event_id


def test_unicast_backlog_reaches_later_consumer(client: LocalEventsClient) -> None:
    name = unique_name()
    with client.stream(name, delivery="unicast", consumer="early"):
        client.wait_for_streams(name, 1)
    # The server must notice the disconnect without any heartbeat traffic.
    client.wait_for_streams(name, 0)

    ids = [client.publish(name, payload={"n": n}).json()["id"] for n in range(2)]
    with client.stream(name, delivery="unicast", consumer="late") as late:
        received = [late.next_envelope()["id"] for _ in range(2)]

    assert received == ids


def test_broker_requeues_unsent_events() -> None:
    """A departing consumer's unwritten events go to the backlog or a peer."""
    name = unique_name()

    def event_ids(events: Sequence[StoredEvent | None]) -> list[str]:
        return [event.envelope["id"] for event in events if event is not None]

    async def scenario() -> None:
        broker = Broker()
        published = [build_event({"name": name}, "tester") for _ in range(6)]
        leaving = broker.subscribe(name, "unicast", "a", consumer="leaving")
        for event in published[:4]:
            broker.publish(event)
        written = await leaving.next_event()

        assert event_ids([written]) == event_ids(published[:1])
        assert broker.unsubscribe(leaving) == 3

        first = broker.subscribe(name, "unicast", "a", consumer="first")
        backlog = [await first.next_event() for _ in range(3)]

        assert event_ids(backlog) == event_ids(published[1:4])

        second = broker.subscribe(name, "unicast", "a", consumer="second")
        broker.publish(published[4])
        broker.publish(published[5])

        assert broker.unsubscribe(first) == 1
        assert sorted(event_ids(second.drain())) == sorted(event_ids(published[4:]))

    asyncio.run(scenario())


def test_replay_without_follow_snapshot(client: LocalEventsClient) -> None:
    name = unique_name()
    ids = [client.publish(name, payload={"n": n}).json()["id"] for n in range(3)]
    client.publish(unique_name())

    response = client.http.get(
        "/api/v1/events/stream",
        params={"name": name, "replay": "true", "follow": "false"},
        headers=client.headers(),
    )

    assert response.status_code == 200
    lines = response.text.splitlines()
    assert [json.loads(line)["id"] for line in lines] == ids


def test_replay_then_follow(client: LocalEventsClient) -> None:
    name = unique_name()
    old_id = client.publish(name).json()["id"]
    with client.stream(name, replay="true") as stream:
        new_id = client.publish(name).json()["id"]

        assert stream.next_envelope()["id"] == old_id
        assert stream.next_envelope()["id"] == new_id


def test_correlation_spellings_and_delivery(client: LocalEventsClient) -> None:
    name = unique_name()
    with client.stream(name) as stream:
        camel = client.publish(name, correlationId="c-1", delivery="broadcast")
        snake = client.publish(name, correlation_id="c-2", delivery="unicast")
        given_id = client.publish(name, id="client-id-1")

        assert camel.status_code == 202
        assert snake.status_code == 202
        assert given_id.status_code == 202
        assert given_id.json()["id"] == "client-id-1"
        assert stream.next_envelope()["correlationId"] == "c-1"
        assert stream.next_envelope()["correlationId"] == "c-2"
        assert stream.next_envelope()["id"] == "client-id-1"


BAD_PUBLISH_BODIES = [
    ("invalid json", b'{"name": "a.b",'),
    ("array body", b'[{"name": "a.b"}]'),
    ("nan", b'{"name": "a.b", "payload": {"x": NaN}}'),
    ("invalid utf-8", b'{"name": "a.b", "payload": {"x": "\xff"}}'),
    ("unknown field", b'{"name": "a.b", "extra": 1}'),
    ("missing name", b'{"payload": {}}'),
    ("name not string", b'{"name": 5}'),
    ("single segment", b'{"name": "event"}'),
    ("uppercase", b'{"name": "Bus.Event"}'),
    ("empty segment", b'{"name": "bus..event"}'),
    ("trailing dot", b'{"name": "bus.event."}'),
    ("space", b'{"name": "bus.my event"}'),
    ("too long", json.dumps({"name": "a." + "b" * 199}).encode()),
    ("payload list", b'{"name": "a.b", "payload": [1]}'),
    ("bad delivery", b'{"name": "a.b", "delivery": "multicast"}'),
    ("correlation number", b'{"name": "a.b", "correlationId": 7}'),
    (
        "correlation conflict",
        b'{"name": "a.b", "correlationId": "x", "correlation_id": "y"}',
    ),
    ("empty id", b'{"name": "a.b", "id": ""}'),
    (
        "nested 1000 levels",
        b'{"name": "a.b", "payload": {"x": ' + b"[" * 1000 + b"]" * 1000 + b"}}",
    ),
    (
        "nested 66 levels",
        b'{"name": "a.b", "payload": {"x": ' + b"[" * 64 + b"]" * 64 + b"}}",
    ),
]


@pytest.mark.parametrize(
    "body",
    [body for _, body in BAD_PUBLISH_BODIES],
    ids=[case for case, _ in BAD_PUBLISH_BODIES],
)
def test_publish_rejects_bad_body(client: LocalEventsClient, body: bytes) -> None:
    response = client.http.post(
        "/api/v1/events",
        content=body,
        headers={**client.headers(), "Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert response.json()["message"]


def test_stream_head_returns_headers_only(client: LocalEventsClient) -> None:
    name = unique_name()

    response = client.http.head(
        "/api/v1/events/stream", params={"name": name}, headers=client.headers()
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    assert client.list_streams(name) == []


def test_publish_accepts_max_length_name(client: LocalEventsClient) -> None:
    name = "a." + "b" * 198

    assert client.publish(name).status_code == 202


def test_publish_body_too_large(strict_server: LocalEventsServer) -> None:
    token = strict_server.token("events:send")
    with LocalEventsClient(strict_server.base_url, token) as client:
        response = client.publish("test.large", payload={"blob": "x" * 5000})

    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    assert "4096" in response.json()["message"]


BAD_STREAM_QUERIES = [
    ("missing name", {}),
    ("invalid name", {"name": "Not.Valid"}),
    ("bad delivery", {"name": "a.b", "delivery": "anycast"}),
    ("bad replay", {"name": "a.b", "replay": "maybe"}),
    ("bad follow", {"name": "a.b", "follow": "2"}),
    ("bad group", {"name": "a.b", "delivery": "unicast", "group": "a b"}),
    ("empty consumer", {"name": "a.b", "delivery": "unicast", "consumer": ""}),
]


@pytest.mark.parametrize(
    "query",
    [query for _, query in BAD_STREAM_QUERIES],
    ids=[case for case, _ in BAD_STREAM_QUERIES],
)
def test_stream_rejects_bad_query(
    client: LocalEventsClient, query: dict[str, str]
) -> None:
    response = client.http.get(
        "/api/v1/events/stream", params=query, headers=client.headers()
    )

    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"


def unsigned_token(claims: dict[str, Any]) -> str:
    """Return a JWT with ``"alg": "none"`` and an empty signature."""

    def encode(part: dict[str, Any]) -> str:
        raw = json.dumps(part).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{encode({'alg': 'none', 'typ': 'JWT'})}.{encode(claims)}."


def invalid_authorizations(server: LocalEventsServer) -> dict[str, str | None]:
    """Return Authorization header values that must all get 401."""
    now = int(time.time())
    claims = {"sub": "x", "aud": DEFAULT_AUDIENCE, "iat": now, "exp": now + 60}
    other_secret = "another-secret-that-is-long-enough-for-hs256"
    return {
        "missing": None,
        "basic scheme": "Basic dXNlcjpwYXNz",
        "empty bearer": "Bearer",
        "garbage": "Bearer not.a.jwt",
        "wrong secret": "Bearer " + mint_token(other_secret, ALL_SCOPES),
        "expired": "Bearer " + server.token(ALL_SCOPES, ttl=-10),
        "wrong audience": "Bearer "
        + mint_token(server.secret, ALL_SCOPES, audience="other/api"),
        "hs512": "Bearer "
        + jwt.encode({**claims, "scope": ALL_SCOPES}, server.secret, algorithm="HS512"),
        "alg none": "Bearer " + unsigned_token({**claims, "scope": ALL_SCOPES}),
        "missing exp": "Bearer "
        + jwt.encode(
            {"sub": "x", "aud": DEFAULT_AUDIENCE, "iat": now, "scope": ALL_SCOPES},
            server.secret,
            algorithm="HS256",
        ),
        "scope list of numbers": "Bearer "
        + jwt.encode({**claims, "scope": [1, 2]}, server.secret, "HS256"),
        "scope number": "Bearer "
        + jwt.encode({**claims, "scope": 7}, server.secret, "HS256"),
        "empty sub": "Bearer "
        + jwt.encode({**claims, "sub": "", "scope": ALL_SCOPES}, server.secret),
        "blank sub": "Bearer "
        + jwt.encode({**claims, "sub": "  ", "scope": ALL_SCOPES}, server.secret),
        "exp string": "Bearer "
        + jwt.encode(
            {**claims, "exp": str(now + 60), "scope": ALL_SCOPES}, server.secret
        ),
        "iat string": "Bearer "
        + jwt.encode({**claims, "iat": str(now), "scope": ALL_SCOPES}, server.secret),
    }


def test_invalid_tokens_get_401(
    server: LocalEventsServer, client: LocalEventsClient
) -> None:
    requests = [
        ("POST", "/api/v1/events", {"name": "a.b"}),
        ("GET", "/api/v1/events/stream?name=a.b", None),
        ("GET", "/api/v1/_local/streams", None),
        ("POST", "/api/v1/_local/drop-streams", None),
    ]
    for case, authorization in invalid_authorizations(server).items():
        headers = {} if authorization is None else {"Authorization": authorization}
        for method, path, body in requests:
            response = client.http.request(method, path, json=body, headers=headers)

            where = f"{case}: {method} {path}"
            assert response.status_code == 401, where
            assert response.json()["error"] == "invalid_auth", where
            assert response.headers["www-authenticate"] == "Bearer", where


def test_scope_claim_as_list(
    server: LocalEventsServer, client: LocalEventsClient
) -> None:
    now = int(time.time())
    claims = {"sub": "lister", "aud": DEFAULT_AUDIENCE, "iat": now, "exp": now + 60}
    token = jwt.encode(
        {**claims, "scope": ["events:send", "events:listen"]}, server.secret
    )
    name = unique_name()

    with client.stream(name, token=token) as stream:
        published = client.publish(name, token=token)

        assert published.status_code == 202
        assert stream.next_envelope()["identity_id"] == "lister"


def test_numeric_date_may_be_float(
    server: LocalEventsServer, client: LocalEventsClient
) -> None:
    now = time.time()
    claims = {"sub": "x", "aud": DEFAULT_AUDIENCE, "iat": now, "exp": now + 60.5}
    token = jwt.encode({**claims, "scope": ALL_SCOPES}, server.secret)

    assert client.publish(unique_name(), token=token).status_code == 202


def test_log_escapes_token_subject(
    server: LocalEventsServer, client: LocalEventsClient
) -> None:
    token = server.token(ALL_SCOPES, sub="tester\nINFO forged: stream 9 opened")
    name = unique_name()

    with client.stream(name, token=token):
        client.wait_for_streams(name, 1)
        client.publish(name, token=token, correlationId="c\nINFO forged: published")
    client.wait_for_streams(name, 0)

    lines = server.log_text().splitlines()
    assert not [line for line in lines if line.startswith("INFO forged")]
    assert 'identity="tester\\nINFO forged: stream 9 opened"' in server.log_text()


def test_expired_token_message(
    server: LocalEventsServer, client: LocalEventsClient
) -> None:
    expired = server.token(ALL_SCOPES, ttl=-10)

    response = client.publish("a.b", token=expired)

    assert "expired" in response.json()["message"]


def test_missing_scope_gets_403(
    server: LocalEventsServer, client: LocalEventsClient
) -> None:
    listen_only = server.token("events:listen")
    send_only = server.token("events:send")
    database_read = server.token("database:read")

    published = client.publish("test.scope", token=listen_only)
    streamed = client.http.get(
        "/api/v1/events/stream",
        params={"name": "test.scope"},
        headers=client.headers(send_only),
    )
    plan = client.publish("bus.database.plan.request", token=database_read)

    assert published.status_code == 403
    assert published.json()["error"] == "forbidden"
    assert "events:send" in published.json()["message"]
    assert streamed.status_code == 403
    assert "events:listen" in streamed.json()["message"]
    assert plan.status_code == 403
    assert "database:admin" in plan.json()["message"]


def test_alias_scopes_allowed(
    server: LocalEventsServer, client: LocalEventsClient
) -> None:
    writer = server.token("events:write")
    reader = server.token("events:read")
    name = unique_name()

    with client.stream(name, token=reader) as stream:
        published = client.publish(name, token=writer)

        assert published.status_code == 202
        assert stream.next_envelope()["id"] == published.json()["id"]


def test_database_scopes_by_event_kind(
    server: LocalEventsServer, client: LocalEventsClient
) -> None:
    admin = server.token("database:admin")
    reader = server.token("database:read")
    generic = server.token(ALL_SCOPES)
    cases = [
        (admin, "bus.database.plan.request", 202),
        (admin, "bus.database.apply.request", 202),
        (admin, "bus.database.status.request", 202),
        (reader, "bus.database.verify.request", 202),
        (reader, "bus.database.status.request", 202),
        (reader, "bus.database.apply.request", 403),
        (generic, "bus.database.apply.request", 202),
        (admin, "test.other", 403),
    ]
    for token, name, expected in cases:
        response = client.publish(name, token=token)

        assert response.status_code == expected, name


def test_strict_mode_database_scopes(strict_server: LocalEventsServer) -> None:
    generic = strict_server.token(ALL_SCOPES)
    admin = strict_server.token("database:admin")
    reader = strict_server.token("database:read")
    plan = "bus.database.plan.request"
    with LocalEventsClient(strict_server.base_url, generic) as client:
        generic_publish = client.publish(plan)
        generic_stream = client.http.get(
            "/api/v1/events/stream", params={"name": plan}, headers=client.headers()
        )
        admin_publish = client.publish(plan, token=admin)
        reader_verify = client.publish("bus.database.verify.request", token=reader)
        generic_other = client.publish("test.other")
        admin_stream = client.http.get(
            "/api/v1/events/stream",
            params={"name": plan, "follow": "false"},
            headers=client.headers(admin),
        )

    assert generic_publish.status_code == 403
    assert "database:admin" in generic_publish.json()["message"]
    assert "events:send" not in generic_publish.json()["message"]
    assert generic_stream.status_code == 403
    assert admin_publish.status_code == 202
    assert reader_verify.status_code == 202
    assert generic_other.status_code == 202
    assert admin_stream.status_code == 200


def test_strict_mode_worker_only_actions(strict_server: LocalEventsServer) -> None:
    admin = strict_server.token("database:admin")
    reader = strict_server.token("database:read")
    generic = strict_server.token(ALL_SCOPES)
    status_request = "bus.database.status.request"
    status_response = "bus.database.status.response"

    def stream(token: str, name: str, **params: str) -> int:
        response = client.http.get(
            "/api/v1/events/stream",
            params={"name": name, "follow": "false", **params},
            headers=client.headers(token),
        )
        return response.status_code

    with LocalEventsClient(strict_server.base_url, reader) as client:
        reader_publishes_response = client.publish(status_response)
        generic_publishes_response = client.publish(status_response, token=generic)
        admin_publishes_response = client.publish(status_response, token=admin)
        reader_publishes_request = client.publish(status_request)
        unicast = {"delivery": "unicast", "group": "bus-integration-database"}
        reader_joins_group = stream(reader, status_request, **unicast)
        reader_reads_requests = stream(reader, status_request)
        admin_joins_group = stream(admin, status_request, **unicast)
        reader_reads_responses = stream(reader, status_response)

    assert reader_publishes_response.status_code == 403
    assert "database:admin" in reader_publishes_response.json()["message"]
    assert "database:read" not in reader_publishes_response.json()["message"]
    assert generic_publishes_response.status_code == 403
    assert admin_publishes_response.status_code == 202
    assert reader_publishes_request.status_code == 202
    assert reader_joins_group == 403
    assert reader_reads_requests == 403
    assert admin_joins_group == 200
    assert reader_reads_responses == 200


def test_events_before_first_group_delivered(client: LocalEventsClient) -> None:
    name = unique_name()
    ids = [client.publish(name, payload={"n": n}).json()["id"] for n in range(3)]

    with client.stream(name, delivery="unicast", group="late") as first:
        received = [first.next_envelope()["id"] for _ in range(3)]

    assert received == ids


def test_broker_history_only_to_first_group() -> None:
    name = unique_name()

    async def scenario() -> None:
        broker = Broker()
        early = build_event({"name": name}, "tester")
        broker.publish(early)
        first = broker.subscribe(name, "unicast", "a", group="one")
        second = broker.subscribe(name, "unicast", "a", group="two")
        later = build_event({"name": name}, "tester")
        broker.publish(later)

        assert [event.event_id for event in first.drain()] == [
            early.event_id,
            later.event_id,
        ]
        assert [event.event_id for event in second.drain()] == [later.event_id]

    asyncio.run(scenario())


def sized_event(name: str, size: int) -> StoredEvent:
    event = build_event({"name": name, "payload": {"pad": "x" * size}}, "tester")
    assert size <= event.size < size + 300
    return event


def test_broker_history_bounded_by_bytes() -> None:
    name = unique_name()
    broker = Broker(history_max_bytes=10_000)
    events = [sized_event(name, 1000) for _ in range(30)]

    for event in events:
        broker.publish(event)

    retained = broker.replay(name)
    assert broker.history_bytes <= 10_000
    assert broker.history_bytes == sum(event.size for event in retained)
    assert 7 <= len(retained) < 10
    assert retained == events[-len(retained) :]


def test_broker_backlogs_share_byte_budget() -> None:
    name_a, name_b = unique_name(), unique_name()

    async def scenario() -> None:
        broker = Broker(backlog_max_bytes=10_000)
        for name in (name_a, name_b):
            consumer = broker.subscribe(name, "unicast", "a", group="g")
            broker.unsubscribe(consumer)
        old = [sized_event(name_a, 1000) for _ in range(6)]
        new = [sized_event(name_b, 1000) for _ in range(6)]
        for event in old + new:
            broker.publish(event)

        assert broker.backlog_budget.used <= 10_000
        assert broker.backlog_budget.dropped >= 3
        group_a = broker.subscribe(name_a, "unicast", "a", group="g")
        group_b = broker.subscribe(name_b, "unicast", "a", group="g")
        retained_a = [event.event_id for event in group_a.drain()]
        retained_b = [event.event_id for event in group_b.drain()]
        # The oldest events go first, so name_b loses none.
        assert retained_b == [event.event_id for event in new]
        assert retained_a == [
            event.event_id for event in old[len(old) - len(retained_a) :]
        ]
        assert broker.backlog_budget.used == 0

    asyncio.run(scenario())


def test_stream_queue_bounded_by_bytes() -> None:
    name = unique_name()

    async def scenario() -> None:
        broker = Broker(queue_max_bytes=5_000)
        listener = broker.subscribe(name, "broadcast", "a")
        for _ in range(10):
            broker.publish(sized_event(name, 1000))

        assert listener.closed
        assert listener.queued_bytes <= 5_000

    asyncio.run(scenario())


def test_drop_streams_closes_streams(client: LocalEventsClient) -> None:
    name = unique_name()
    with (
        client.stream(name) as broadcast,
        client.stream(name, delivery="unicast") as unicast,
    ):
        listed = client.list_streams(name)
        closed = client.drop_streams()

        assert len(listed) == 2
        assert closed >= 2
        assert broadcast.remaining_lines() == []
        assert unicast.remaining_lines() == []
    client.wait_for_streams(name, 0)


def test_log_never_contains_token(
    server: LocalEventsServer, client: LocalEventsClient
) -> None:
    client.publish(unique_name())
    client.list_streams()

    log = server.log_text()
    assert "POST /api/v1/events" in log
    assert client.token not in log
    assert client.token.split(".")[2] not in log


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_flow(server: LocalEventsServer, tmp_path: Path) -> None:
    token = server.token(ALL_SCOPES)
    name = "bus.database.plan.response"
    event = {"name": name, "payload": {"correlation_id": "deploy-001-db-plan"}}
    (tmp_path / "event.json").write_text(json.dumps(event, indent=2))
    env = {**os.environ, "BASE": server.base_url, "TOKEN": token}

    listen = (
        'curl -fsS -N --max-time 15 "$BASE/api/v1/events/stream?name='
        'bus.database.plan.response&delivery=broadcast" '
        '-H "Authorization: Bearer $TOKEN" > response.ndjson'
    )
    publish_command = (
        'curl -fsS -X POST "$BASE/api/v1/events" -H "Authorization: Bearer $TOKEN" '
        '-H "Content-Type: application/json" --data @event.json'
    )
    listener = subprocess.Popen(["bash", "-c", listen], cwd=tmp_path, env=env)
    try:
        with LocalEventsClient(server.base_url, token) as client:
            client.wait_for_streams(name, 1)
            posted = subprocess.run(
                ["bash", "-c", publish_command],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                timeout=15,
                check=False,
            )
            assert posted.returncode == 0, posted.stderr
            assert json.loads(posted.stdout)["accepted"] is True
            client.drop_streams()
        assert listener.wait(timeout=15) == 0
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.wait()

    matched = subprocess.run(
        ["grep", '"correlation_id":"deploy-001-db-plan"', "response.ndjson"],
        cwd=tmp_path,
        check=False,
    )
    assert matched.returncode == 0


@pytest.mark.parametrize(
    "stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"]
)
def test_stop_signal_ends_streams(stop_signal: signal.Signals) -> None:
    with run_local_events_server() as running:
        token = running.token(ALL_SCOPES)
        with (
            LocalEventsClient(running.base_url, token) as client,
            client.stream("test.shutdown") as stream,
        ):
            started = time.monotonic()
            status = running.stop(stop_signal=stop_signal)
            lines = stream.remaining_lines()

        assert status == 0
        assert lines == []
        assert time.monotonic() - started < 5.0
        assert "bus-events-local stopped" in running.log_text()
        assert "Traceback" not in running.log_text()


def run_cli(*args: str, secret: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != SECRET_ENV}
    if secret is not None:
        env[SECRET_ENV] = secret
    return subprocess.run(
        [sys.executable, "-m", "bus_shim.events_local", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_cli_token_command() -> None:
    secret = "a-development-secret-of-at-least-32-bytes"

    result = run_cli(
        "token",
        "--scope",
        "events:send  database:read",
        "--sub",
        "ci",
        "--ttl",
        "60",
        secret=secret,
    )

    assert result.returncode == 0, result.stderr
    claims = jwt.decode(
        result.stdout.strip(), secret, algorithms=["HS256"], audience=DEFAULT_AUDIENCE
    )
    assert claims["sub"] == "ci"
    assert claims["scope"] == "events:send database:read"
    assert claims["exp"] - claims["iat"] == 60


def test_cli_secret_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "from-a-file-and-long-enough-for-hs256-tokens"
    secret_file = tmp_path / "secret"
    secret_file.write_text(secret + "\n")

    monkeypatch.delenv(SECRET_ENV, raising=False)
    missing_status = cli.main(["token", "--scope", "events:send"])
    missing_error = capsys.readouterr().err
    monkeypatch.setenv(SECRET_ENV, "short")
    short_status = cli.main(["token", "--scope", "events:send"])
    short_error = capsys.readouterr().err
    file_status = cli.main(
        ["token", "--scope", "events:send", "--secret-file", str(secret_file)]
    )
    file_token = capsys.readouterr().out.strip()

    assert missing_status == 2
    assert SECRET_ENV in missing_error
    assert short_status == 2
    assert "32 bytes" in short_error
    assert file_status == 0
    claims = jwt.decode(
        file_token, secret, algorithms=["HS256"], audience=DEFAULT_AUDIENCE
    )
    assert claims["scope"] == "events:send"


def test_cli_help_says_stand_in(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["serve", "--help"])
    output = capsys.readouterr().out

    assert exited.value.code == 0
    assert "stand-in" in output
    assert "not the production" in output
