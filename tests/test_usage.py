"""Usage monitoring, driven by simulated traffic over simulated days (the clock is injected)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from litestar import Litestar
from piccolo.engine.sqlite import convert_datetime_in

from app import db
from app.clock import FrozenClock
from app.main import create_app
from app.services import Services
from app.settings import Settings
from app.usage.ingest import UsageIngest
from app.usage.recorder import BatchOutcome, UsageRecord, UsageRecorder
from app.usage.retention import forget_raw_events
from app.usage.tables import UsageEvent, UsageHourly, UsageProjectHourly
from tests.conftest import TEST_HASHER, running
from tests.graphql_client import GraphQLClient, Session
from tests.helpers import (
    DELETE_KEY,
    LOG_IN,
    PASSWORD,
    add_member,
    create_key,
    create_project,
    sign_up,
)

PING = "{ viewer { __typename } }"
USAGE = """
query Usage($id: ID!, $from: DateTime!, $to: DateTime!, $g: UsageGranularity!, $key: ID) {
  project(id: $id) {
    usage(from: $from, to: $to, granularity: $g, apiKeyId: $key) {
      points { start requests errors inputTokens outputTokens }
      totals { requests errors }
    }
  }
}
"""
KEY_DETAILS = """
query Key($project: ID!, $key: ID!) {
  project(id: $project) {
    apiKey(id: $key) {
      rotationDue expiresSoon
      usage24h { requests errors lastUsedAt lastUsedIp }
      clientIps { totalCount edges { node { ip requests firstSeenAt lastSeenAt } } }
    }
  }
}
"""
ALERTS = """
query Alerts($id: ID!, $all: Boolean) {
  project(id: $id) {
    securityAlerts(includeAcknowledged: $all) {
      totalCount
      edges { node { id kind apiKeyId evidence windowStart windowEnd acknowledgedAt } }
    }
  }
}
"""
ACKNOWLEDGE = """
mutation Ack($input: AcknowledgeSecurityAlertInput!) {
  acknowledgeSecurityAlert(input: $input) {
    securityAlert { id acknowledgedAt }
    userErrors { field code message }
  }
}
"""


class Traffic:
    """A project with a key, and clients calling with it from chosen addresses."""

    def __init__(self, app: Litestar, clock: FrozenClock) -> None:
        self.app = app
        self.clock = clock
        self.services: Services = app.state.services
        self.gql = GraphQLClient(self.client("203.0.113.1"))
        self.owner: Session
        self.project: dict[str, Any]
        self.key: dict[str, Any]

    def client(self, ip: str = "203.0.113.1") -> httpx.AsyncClient:
        """A client of the app calling from `ip`."""
        transport = httpx.ASGITransport(app=self.app, client=(ip, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")

    async def setup(self) -> None:
        self.owner = await sign_up(self.gql)
        self.project = await create_project(self.gql, self.owner)
        self.key = await create_key(self.gql, self.owner, self.project["id"])

    async def calls(
        self, count: int, ip: str = "198.51.100.10", body: Any = None, *, flush: bool = True
    ) -> None:
        async with self.client(ip) as client:
            for _ in range(count):
                headers = {"Authorization": f"Bearer {self.key['secret']}"}
                if body is None:
                    await client.post("/graphql", json={"query": PING}, headers=headers)
                else:
                    await client.post(
                        "/graphql",
                        content=body,
                        headers={**headers, "content-type": "application/json"},
                    )
        if flush:
            await self.services.usage_recorder.flush()

    async def query(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        # A fresh session each time: simulated days outlive any access token.
        login = await self.gql.execute(
            LOG_IN, {"input": {"email": self.owner.email, "password": PASSWORD}}
        )
        return await self.gql.execute(query, variables, login["logIn"]["accessToken"])

    async def alerts(self, include_acknowledged: bool = False) -> list[dict[str, Any]]:
        data = await self.query(ALERTS, {"id": self.project["id"], "all": include_acknowledged})
        return [edge["node"] for edge in data["project"]["securityAlerts"]["edges"]]


@pytest.fixture
def clock() -> FrozenClock:
    # Mid-hour, so "this hour" is unambiguous in assertions.
    return FrozenClock(datetime(2026, 11, 2, 10, 30, tzinfo=UTC))


async def _traffic(app: Litestar, clock: FrozenClock) -> Traffic:
    traffic = Traffic(app, clock)
    await traffic.setup()
    return traffic


@pytest.fixture
async def traffic(app: Litestar, clock: FrozenClock) -> Traffic:
    return await _traffic(app, clock)


@pytest.fixture
async def sensitive_traffic(settings: Settings, clock: FrozenClock) -> AsyncIterator[Traffic]:
    """Low spike floors, so a spike takes tens of requests rather than hundreds."""
    sensitive = replace(
        settings,
        monitoring=replace(settings.monitoring, request_spike_floor=20, error_spike_floor=10),
    )
    application = create_app(sensitive, clock=clock, hasher=TEST_HASHER)
    async with running(application):
        yield await _traffic(application, clock)


def _iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


async def test_requests_made_with_a_key_are_counted_per_hour(traffic: Traffic) -> None:
    await traffic.calls(5)
    hour = traffic.clock.now().replace(minute=0)

    data = await traffic.query(
        USAGE,
        {
            "id": traffic.project["id"],
            "from": _iso(hour - timedelta(hours=2)),
            "to": _iso(hour + timedelta(hours=1)),
            "g": "HOUR",
        },
    )

    series = data["project"]["usage"]
    assert [p["requests"] for p in series["points"]] == [0, 0, 5]
    assert series["points"][-1]["start"] == _iso(hour)
    assert series["totals"] == {"requests": 5, "errors": 0}


async def test_days_sum_their_hours_and_empty_days_show_zero(traffic: Traffic) -> None:
    start = traffic.clock.now().replace(hour=0, minute=0)
    await traffic.calls(3)
    traffic.clock.advance(timedelta(hours=5))
    await traffic.calls(2)
    traffic.clock.advance(timedelta(days=2))
    await traffic.calls(4)

    data = await traffic.query(
        USAGE,
        {
            "id": traffic.project["id"],
            "from": _iso(start),
            "to": _iso(start + timedelta(days=3)),
            "g": "DAY",
        },
    )

    assert [p["requests"] for p in data["project"]["usage"]["points"]] == [5, 0, 4]


async def test_bad_requests_with_a_key_count_as_errors(traffic: Traffic) -> None:
    await traffic.calls(2)
    await traffic.calls(3, body=b"{not json")

    summary = await traffic.query(
        KEY_DETAILS, {"project": traffic.project["id"], "key": traffic.key["id"]}
    )

    assert summary["project"]["apiKey"]["usage24h"]["requests"] == 5
    assert summary["project"]["apiKey"]["usage24h"]["errors"] == 3


async def test_usage_can_be_narrowed_to_one_key(traffic: Traffic) -> None:
    other = await create_key(traffic.gql, traffic.owner, traffic.project["id"], note="other")
    await traffic.calls(4)
    hour = traffic.clock.now().replace(minute=0)

    data = await traffic.query(
        USAGE,
        {
            "id": traffic.project["id"],
            "from": _iso(hour),
            "to": _iso(hour + timedelta(hours=1)),
            "g": "HOUR",
            "key": other["id"],
        },
    )

    assert data["project"]["usage"]["totals"]["requests"] == 0


@pytest.mark.parametrize(
    ("span", "granularity", "message"),
    [
        (timedelta(hours=-1), "HOUR", "before"),
        (timedelta(days=401), "DAY", "400 days"),
        (timedelta(days=32), "HOUR", "use DAY"),
    ],
)
async def test_bad_ranges_are_refused(
    traffic: Traffic, span: timedelta, granularity: str, message: str
) -> None:
    now = traffic.clock.now()

    errors = await traffic.gql.errors(
        USAGE,
        {"id": traffic.project["id"], "from": _iso(now), "to": _iso(now + span), "g": granularity},
        traffic.key["secret"],
    )

    assert message in errors[0]["message"]
    assert errors[0]["extensions"]["code"] == "INVALID"


@pytest.mark.parametrize("key_id", ["no-such-key", "foreign"])
async def test_an_unknown_or_foreign_key_filter_is_not_found(traffic: Traffic, key_id: str) -> None:
    if key_id == "foreign":
        other_project = await create_project(traffic.gql, traffic.owner, "Other")
        key_id = (await create_key(traffic.gql, traffic.owner, other_project["id"]))["id"]
    now = traffic.clock.now()

    errors = await traffic.gql.errors(
        USAGE,
        {
            "id": traffic.project["id"],
            "from": _iso(now - timedelta(hours=1)),
            "to": _iso(now),
            "g": "HOUR",
            "key": key_id,
        },
        traffic.key["secret"],
    )

    assert errors[0]["extensions"]["code"] == "NOT_FOUND"


async def test_client_ips_list_each_address_with_counts(traffic: Traffic) -> None:
    await traffic.calls(3, ip="198.51.100.10")
    traffic.clock.advance(timedelta(minutes=10))
    await traffic.calls(1, ip="198.51.100.20")

    data = await traffic.query(
        KEY_DETAILS, {"project": traffic.project["id"], "key": traffic.key["id"]}
    )

    ips = data["project"]["apiKey"]["clientIps"]
    assert ips["totalCount"] == 2
    assert [(e["node"]["ip"], e["node"]["requests"]) for e in ips["edges"]] == [
        ("198.51.100.20", 1),
        ("198.51.100.10", 3),
    ]


async def test_a_key_leaked_to_a_new_address_raises_exactly_one_alert(traffic: Traffic) -> None:
    await traffic.calls(3, ip="198.51.100.10")
    traffic.clock.advance(timedelta(days=2))
    await traffic.calls(2, ip="198.51.100.10")

    await traffic.calls(5, ip="192.0.2.66")
    traffic.clock.advance(timedelta(hours=1))
    await traffic.calls(5, ip="192.0.2.66")

    alerts = await traffic.alerts()
    assert [a["kind"] for a in alerts] == ["UNFAMILIAR_IP"]
    assert alerts[0]["apiKeyId"] == traffic.key["id"]
    assert alerts[0]["evidence"]["ip"] == "192.0.2.66"


async def test_addresses_of_the_first_day_are_not_unfamiliar(traffic: Traffic) -> None:
    await traffic.calls(2, ip="198.51.100.10")
    traffic.clock.advance(timedelta(hours=3))
    await traffic.calls(2, ip="198.51.100.11")

    assert await traffic.alerts() == []


async def test_an_address_unused_for_the_lookback_is_unfamiliar_again(traffic: Traffic) -> None:
    await traffic.calls(1, ip="198.51.100.10")
    await traffic.calls(1, ip="198.51.100.99")
    traffic.clock.advance(timedelta(days=40))
    await traffic.calls(1, ip="198.51.100.10")
    traffic.clock.advance(timedelta(minutes=5))

    await traffic.calls(1, ip="198.51.100.99")

    alerts = await traffic.alerts()
    assert {a["evidence"]["ip"] for a in alerts} == {"198.51.100.10", "198.51.100.99"}


async def test_a_request_spike_raises_one_alert(sensitive_traffic: Traffic) -> None:
    traffic = sensitive_traffic
    for _ in range(6):
        await traffic.calls(2)
        traffic.clock.advance(timedelta(hours=1))

    await traffic.calls(30)
    await traffic.calls(10)

    alerts = await traffic.alerts()
    assert [a["kind"] for a in alerts] == ["REQUEST_SPIKE"]
    assert alerts[0]["evidence"]["requests"] > alerts[0]["evidence"]["threshold"]


async def test_steady_traffic_raises_no_spike(sensitive_traffic: Traffic) -> None:
    traffic = sensitive_traffic
    for _ in range(5):
        await traffic.calls(15)
        traffic.clock.advance(timedelta(hours=1))

    assert await traffic.alerts() == []


async def test_an_error_spike_raises_one_alert(sensitive_traffic: Traffic) -> None:
    traffic = sensitive_traffic
    await traffic.calls(5)

    await traffic.calls(15, body=b"{broken")

    assert [a["kind"] for a in await traffic.alerts()] == ["ERROR_SPIKE"]


async def test_a_deleted_key_still_in_use_raises_one_alert_a_day(traffic: Traffic) -> None:
    await traffic.calls(1)
    await traffic.gql.execute(
        DELETE_KEY, {"input": {"id": traffic.key["id"]}}, traffic.owner.access_token
    )

    await traffic.calls(3, ip="192.0.2.200")

    data = await traffic.gql.execute(
        ALERTS, {"id": traffic.project["id"], "all": False}, traffic.owner.access_token
    )
    alerts = [edge["node"] for edge in data["project"]["securityAlerts"]["edges"]]
    assert [a["kind"] for a in alerts] == ["REVOKED_KEY_IN_USE"]
    assert alerts[0]["evidence"]["reason"] == "revoked"
    assert alerts[0]["evidence"]["ip"] == "192.0.2.200"


async def test_refused_requests_of_a_known_key_are_counted_without_the_secret(
    traffic: Traffic,
) -> None:
    await traffic.gql.execute(
        DELETE_KEY, {"input": {"id": traffic.key["id"]}}, traffic.owner.access_token
    )

    await traffic.calls(2)

    rows = await UsageEvent.select().where(UsageEvent.api_key_id == traffic.key["id"])
    assert [(row["status"], row["auth_failure"]) for row in rows] == [(401, "revoked")] * 2
    assert traffic.key["secret"] not in str(rows)


async def test_acknowledged_alerts_leave_the_default_list(traffic: Traffic) -> None:
    await traffic.gql.execute(
        DELETE_KEY, {"input": {"id": traffic.key["id"]}}, traffic.owner.access_token
    )
    await traffic.calls(1)
    alert_id = (
        await traffic.gql.execute(
            ALERTS, {"id": traffic.project["id"], "all": False}, traffic.owner.access_token
        )
    )["project"]["securityAlerts"]["edges"][0]["node"]["id"]

    acknowledged = await traffic.gql.execute(
        ACKNOWLEDGE, {"input": {"id": alert_id}}, traffic.owner.access_token
    )
    default = await traffic.gql.execute(
        ALERTS, {"id": traffic.project["id"], "all": False}, traffic.owner.access_token
    )
    everything = await traffic.gql.execute(
        ALERTS, {"id": traffic.project["id"], "all": True}, traffic.owner.access_token
    )

    again = await traffic.gql.execute(
        ACKNOWLEDGE, {"input": {"id": alert_id}}, traffic.owner.access_token
    )
    trail = await traffic.query(
        "query($id: ID!) { project(id: $id) { auditEvents(action: "
        '"security_alert.acknowledge") { edges { node { targetId details actor { email } } } } } }',
        {"id": traffic.project["id"]},
    )

    assert acknowledged["acknowledgeSecurityAlert"]["securityAlert"]["acknowledgedAt"]
    assert default["project"]["securityAlerts"]["totalCount"] == 0
    assert everything["project"]["securityAlerts"]["totalCount"] == 1
    assert again["acknowledgeSecurityAlert"]["userErrors"] == []
    # Audited once, with who did it; acknowledging again changes nothing.
    [event] = [edge["node"] for edge in trail["project"]["auditEvents"]["edges"]]
    assert event["targetId"] == alert_id
    assert event["actor"] == {"email": traffic.owner.email}
    assert event["details"] == {"kind": "REVOKED_KEY_IN_USE", "apiKeyId": traffic.key["id"]}


@pytest.mark.parametrize("who", ["outsider", "member", "unknown"])
async def test_acknowledging_needs_a_manager_of_the_project(traffic: Traffic, who: str) -> None:
    await traffic.gql.execute(
        DELETE_KEY, {"input": {"id": traffic.key["id"]}}, traffic.owner.access_token
    )
    await traffic.calls(1)
    alert_id = (
        await traffic.gql.execute(
            ALERTS, {"id": traffic.project["id"], "all": False}, traffic.owner.access_token
        )
    )["project"]["securityAlerts"]["edges"][0]["node"]["id"]
    person = await sign_up(traffic.gql)
    if who == "member":
        await add_member(traffic.gql, traffic.owner, traffic.project["id"], person.email, "MEMBER")
    if who == "unknown":
        alert_id = "00000000-0000-0000-0000-000000000000"

    data = await traffic.gql.execute(ACKNOWLEDGE, {"input": {"id": alert_id}}, person.access_token)

    expected = {"outsider": "NOT_FOUND", "member": "FORBIDDEN", "unknown": "NOT_FOUND"}[who]
    assert data["acknowledgeSecurityAlert"]["userErrors"][0]["code"] == expected


async def test_rotation_is_due_after_the_rotation_period(traffic: Traffic) -> None:
    variables = {"project": traffic.project["id"], "key": traffic.key["id"]}
    fresh = await traffic.query(KEY_DETAILS, variables)

    traffic.clock.advance(timedelta(days=90))
    old = await traffic.query(KEY_DETAILS, variables)

    assert fresh["project"]["apiKey"]["rotationDue"] is False
    assert old["project"]["apiKey"]["rotationDue"] is True


@pytest.mark.parametrize(("days", "soon"), [(5, True), (30, False)])
async def test_expires_soon_warns_within_the_warning_period(
    traffic: Traffic, days: int, soon: bool
) -> None:
    expiring = await create_key(
        traffic.gql,
        traffic.owner,
        traffic.project["id"],
        expires_at=_iso(traffic.clock.now() + timedelta(days=days)),
    )

    data = await traffic.query(
        KEY_DETAILS, {"project": traffic.project["id"], "key": expiring["id"]}
    )

    assert data["project"]["apiKey"]["expiresSoon"] is soon


async def test_raw_events_expire_and_hourly_aggregates_stay(traffic: Traffic) -> None:
    await traffic.calls(4)
    traffic.clock.advance(timedelta(days=31))

    await traffic.services.usage_recorder._housekeeping()  # type: ignore[misc]

    assert await UsageEvent.count().where(UsageEvent.api_key_id == traffic.key["id"]) == 0
    hourly = await UsageHourly.select(UsageHourly.requests).where(
        UsageHourly.api_key_id == traffic.key["id"]
    )
    assert sum(row["requests"] for row in hourly) == 4


async def test_a_large_batch_is_stored_whole_in_time_order(traffic: Traffic) -> None:
    """More records than one SQLite statement binds, across an hour boundary."""
    start = traffic.clock.now().replace(minute=58)
    records = [
        UsageRecord(
            project_id=uuid.UUID(traffic.project["id"]),
            api_key_id=traffic.key["id"],
            endpoint="/v1/chat/completions",
            status=200 if index % 10 else 500,
            latency_ms=3,
            at=start + timedelta(milliseconds=40 * index),
            provider="openai",
            model="gpt-4o",
            input_tokens=2,
            output_tokens=1,
            client_ip="198.51.100.77",
        )
        for index in range(6_000)
    ]
    for record in records:
        traffic.services.usage_recorder.record(record)

    # The recorder's own loop may have taken the first batch just before this flush: both
    # batches are written when the queue is empty and the rows are all there.
    for _ in range(200):
        await traffic.services.usage_recorder.flush()
        events = await UsageEvent.select(UsageEvent.id, UsageEvent.created_at).where(
            UsageEvent.api_key_id == traffic.key["id"]
        )
        if len(events) == 6_000:
            break
        await asyncio.sleep(0.05)
    assert len(events) == 6_000
    by_id = [row["created_at"] for row in sorted(events, key=lambda row: str(row["id"]))]
    assert by_id == sorted(by_id)
    hourly = (
        await UsageHourly.select(
            UsageHourly.hour_start,
            UsageHourly.requests,
            UsageHourly.server_errors,
            UsageHourly.input_tokens,
        )
        .where(UsageHourly.api_key_id == traffic.key["id"])
        .order_by(UsageHourly.hour_start)
    )
    in_first_hour = sum(1 for record in records if record.at.hour == start.hour)
    assert [row["requests"] for row in hourly] == [in_first_hour, 6_000 - in_first_hour]
    assert sum(row["server_errors"] for row in hourly) == 600
    assert sum(row["input_tokens"] for row in hourly) == 12_000


def _record_at(traffic: Traffic, at: datetime) -> UsageRecord:
    return UsageRecord(
        project_id=uuid.UUID(traffic.project["id"]),
        api_key_id=traffic.key["id"],
        endpoint="/v1/chat/completions",
        status=200,
        latency_ms=1,
        at=at,
    )


async def test_events_keep_their_exact_time_and_a_time_ordered_id(traffic: Traffic) -> None:
    """Each event's id is a UUIDv7 of its millisecond, and its time reads back to the
    microsecond, also compared in a query: the retention cutoff depends on that."""
    base = datetime(2031, 5, 17, 23, 59, 59, tzinfo=UTC)
    times = [
        base.replace(microsecond=0),
        base.replace(microsecond=1),
        base.replace(microsecond=999_999),
        base + timedelta(microseconds=1_000_000),  # the next day, on the second
        datetime(2031, 5, 18, 5, 30, 0, 123_456, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2099, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        # Where round(timestamp() * 1e6) is a microsecond off.
        datetime(2112, 5, 3, 3, 21, 18, 55_593, tzinfo=UTC),
    ]
    for at in times:
        traffic.services.usage_recorder.record(_record_at(traffic, at))
    await traffic.services.usage_recorder.flush()

    rows = await UsageEvent.select(UsageEvent.id, UsageEvent.created_at).where(
        UsageEvent.api_key_id == traffic.key["id"]
    )
    stored = sorted((row["created_at"], uuid.UUID(str(row["id"]))) for row in rows)
    assert [at for at, _ in stored] == sorted(times)
    for at, event_id in stored:
        assert event_id.version == 7
        assert event_id.int >> 80 == int(at.timestamp() * 1000)
    assert len({event_id for _, event_id in stored}) == len(times)
    for cutoff in times:
        earlier = await UsageEvent.count().where(
            (UsageEvent.api_key_id == traffic.key["id"]) & (UsageEvent.created_at < cutoff)
        )
        assert earlier == sum(1 for at in times if at < cutoff)
    if db.is_sqlite():
        # Byte for byte the text Piccolo writes, so its equality filters match too.
        texts = await UsageEvent.raw(
            "SELECT created_at || '' AS text FROM usage_events WHERE api_key_id = {}",
            traffic.key["id"],
        )
        assert sorted(row["text"] for row in texts) == sorted(map(convert_datetime_in, times))


async def test_the_recorder_drops_the_oldest_when_the_database_is_down() -> None:
    written: list[UsageRecord] = []
    database_up = False

    async def sink(batch: Any) -> BatchOutcome:
        if not database_up:
            raise OSError("database unavailable")
        written.extend(batch)
        return BatchOutcome(written=len(batch))

    recorder = UsageRecorder(sink, max_pending=100)
    records = [_record(i) for i in range(150)]
    for record in records:
        recorder.record(record)
    with pytest.raises(OSError, match="unavailable"):
        await recorder.flush()
    database_up = True
    await recorder.flush()

    assert recorder.dropped == 50
    assert [r.latency_ms for r in written] == list(range(50, 150))


async def test_a_flush_writes_what_was_queued_when_it_began_not_what_arrives_meanwhile() -> None:
    batches: list[list[int]] = []
    recorder: UsageRecorder

    async def sink(batch: Any) -> BatchOutcome:
        batches.append([record.latency_ms for record in batch])
        # Traffic goes on while a batch commits.
        recorder.record(_record(1_000 + len(batches)))
        return BatchOutcome(written=len(batch))

    recorder = UsageRecorder(sink, batch_size=4)
    for index in range(10):
        recorder.record(_record(index))

    first = await recorder.flush()
    assert first == 10
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert recorder.queue_depth == 3  # left for the next flush, not chased

    # Shutdown writes what is queued, then what requests finishing meanwhile recorded.
    await recorder.stop()
    assert batches[3:] == [[1_001, 1_002, 1_003], [1_004]]
    assert recorder.queue_depth == 1
    assert recorder.written == 14


async def test_a_flush_called_while_another_writes_returns_once_that_one_is_written() -> None:
    committing, commit = asyncio.Event(), asyncio.Event()
    written: list[int] = []

    async def sink(batch: Any) -> BatchOutcome:
        committing.set()
        await commit.wait()
        written.extend(record.latency_ms for record in batch)
        return BatchOutcome(written=len(batch))

    recorder = UsageRecorder(sink)
    for index in range(3):
        recorder.record(_record(index))
    background = asyncio.create_task(recorder.flush())  # the recorder's own round
    await committing.wait()
    asked = asyncio.create_task(recorder.flush())  # a caller wanting what was recorded
    await asyncio.sleep(0.05)
    waited = not asked.done()
    commit.set()

    assert await background == 3
    assert await asked == 0
    assert waited
    assert written == [0, 1, 2]


async def test_a_full_batch_is_written_without_waiting_for_the_interval() -> None:
    written = asyncio.Event()

    async def sink(batch: Any) -> BatchOutcome:
        written.set()
        return BatchOutcome(written=len(batch))

    recorder = UsageRecorder(sink, batch_size=10, flush_every=timedelta(hours=1))
    for index in range(10):
        recorder.record(_record(index))
    recorder.start()
    try:
        await asyncio.wait_for(written.wait(), timeout=5)
    finally:
        await recorder.stop()


async def test_after_a_failed_write_the_recorder_waits_before_trying_again() -> None:
    attempts = 0

    async def sink(batch: Any) -> BatchOutcome:
        nonlocal attempts
        attempts += 1
        raise OSError("database unavailable")

    recorder = UsageRecorder(sink, batch_size=10, flush_every=timedelta(seconds=0.2))
    for index in range(50):
        recorder.record(_record(index))
    recorder.start()
    await asyncio.sleep(0.5)
    attempted = attempts
    await recorder.stop()

    assert 2 <= attempted <= 4  # about one per interval, not a loop hammering the database
    assert recorder.queue_depth == 50


def _record(index: int) -> UsageRecord:
    import uuid

    return UsageRecord(
        project_id=uuid.UUID(int=1),
        api_key_id="k",
        endpoint="/graphql",
        status=200,
        latency_ms=index,
        at=datetime(2026, 1, 1, tzinfo=UTC),
    )


async def test_operations_ending_in_errors_count_as_errors(traffic: Traffic) -> None:
    async with traffic.client("198.51.100.10") as client:
        for _ in range(2):
            await client.post(
                "/graphql",
                json={"query": "{ projects { edges { node { members { totalCount } } } } }"},
                headers={"Authorization": f"Bearer {traffic.key['secret']}"},
            )
    await traffic.services.usage_recorder.flush()

    data = await traffic.query(
        KEY_DETAILS, {"project": traffic.project["id"], "key": traffic.key["id"]}
    )

    assert data["project"]["apiKey"]["usage24h"] == {
        "requests": 2,
        "errors": 2,
        "lastUsedAt": None,
        "lastUsedIp": None,
    }


KEYS_WITH_USAGE = """
query Keys($id: ID!) {
  project(id: $id) { apiKeys(first: 100) { edges { node { id usage24h { requests } } } } }
}
"""


async def test_a_page_of_keys_reads_their_usage_in_one_query(
    traffic: Traffic, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = traffic.key
    second = await create_key(traffic.gql, traffic.owner, traffic.project["id"], note="second")
    idle = await create_key(traffic.gql, traffic.owner, traffic.project["id"], note="idle")
    await traffic.calls(3)
    traffic.key = second
    await traffic.calls(2)
    reports = traffic.services.usage
    read_for_usage = reports.last_24_hours
    reads: list[list[str]] = []

    async def counted(principal: Any, keys: list[tuple[Any, str]]) -> Any:
        reads.append([key_id for _, key_id in keys])
        return await read_for_usage(principal, keys)

    monkeypatch.setattr(reports, "last_24_hours", counted)

    data = await traffic.query(KEYS_WITH_USAGE, {"id": traffic.project["id"]})

    nodes = [edge["node"] for edge in data["project"]["apiKeys"]["edges"]]
    assert {node["id"]: node["usage24h"]["requests"] for node in nodes} == {
        first["id"]: 3,
        second["id"]: 2,
        idle["id"]: 0,
    }
    assert len(reads) == 1
    assert sorted(reads[0]) == sorted([first["id"], second["id"], idle["id"]])


async def test_project_hours_sum_the_keys(
    traffic: Traffic,
) -> None:
    start = traffic.clock.now().replace(minute=0, second=0, microsecond=0)
    second = await create_key(traffic.gql, traffic.owner, traffic.project["id"], note="second")
    await traffic.calls(3)
    await traffic.calls(2, body=b"{broken")
    traffic.clock.advance(timedelta(hours=2))
    traffic.key = second
    await traffic.calls(4)
    window = {
        "id": traffic.project["id"],
        "from": _iso(start),
        "to": _iso(start + timedelta(hours=4)),
        "g": "HOUR",
    }
    recorded = (await traffic.query(USAGE, window))["project"]["usage"]
    assert [p["requests"] for p in recorded["points"]] == [5, 0, 4, 0]
    assert recorded["totals"] == {"requests": 9, "errors": 2}
    keys = [row["requests"] for row in await UsageHourly.select(UsageHourly.requests)]
    assert sorted(keys) == [4, 5]

    projects = await UsageProjectHourly.select(UsageProjectHourly.requests)
    assert sorted(row["requests"] for row in projects) == [4, 5]


async def test_raw_events_past_retention_go_in_chunks_and_the_hours_stay(
    app: Litestar, settings: Settings, clock: FrozenClock
) -> None:
    ingest = UsageIngest(settings.monitoring)
    project_id = uuid.uuid4()
    old = (clock.now() - timedelta(days=31)).replace(minute=0, second=0)

    def record(at: datetime) -> UsageRecord:
        return UsageRecord(
            project_id=project_id,
            api_key_id="k" * 12,
            endpoint="/graphql",
            status=200,
            latency_ms=1,
            at=at,
        )

    await ingest([record(old + timedelta(seconds=n)) for n in range(7)])
    await ingest([record(clock.now()), record(clock.now())])

    forgotten = await forget_raw_events(clock.now(), timedelta(days=30), chunk=3)

    assert forgotten == 7
    assert await UsageEvent.count() == 2
    hours = await UsageHourly.select(UsageHourly.requests).order_by(UsageHourly.hour_start)
    assert [row["requests"] for row in hours] == [7, 2]


ALERT_KEYS = """
query Alerts($id: ID!) {
  project(id: $id) {
    securityAlerts(includeAcknowledged: true) { edges { node { kind apiKey { id note } } } }
  }
}
"""


async def test_an_alert_links_to_its_key_while_the_key_lives(traffic: Traffic) -> None:
    await traffic.calls(3, ip="198.51.100.10")
    traffic.clock.advance(timedelta(days=2))
    await traffic.calls(1, ip="192.0.2.66")

    data = await traffic.query(ALERT_KEYS, {"id": traffic.project["id"]})

    nodes = [edge["node"] for edge in data["project"]["securityAlerts"]["edges"]]
    assert nodes == [
        {
            "kind": "UNFAMILIAR_IP",
            "apiKey": {"id": traffic.key["id"], "note": traffic.key["note"]},
        }
    ]


async def test_an_alert_of_a_deleted_key_links_to_nothing(traffic: Traffic) -> None:
    await traffic.gql.execute(
        DELETE_KEY, {"input": {"id": traffic.key["id"]}}, traffic.owner.access_token
    )
    await traffic.calls(1)

    data = await traffic.query(ALERT_KEYS, {"id": traffic.project["id"]})

    nodes = [edge["node"] for edge in data["project"]["securityAlerts"]["edges"]]
    assert nodes == [{"kind": "REVOKED_KEY_IN_USE", "apiKey": None}]


FILTERED_ALERTS = """
query FilteredAlerts($id: ID!, $key: ID, $onlyAcknowledged: Boolean!) {
  project(id: $id) {
    securityAlerts(apiKeyId: $key, onlyAcknowledged: $onlyAcknowledged) {
      totalCount
      edges { node { apiKeyId acknowledgedAt } }
    }
  }
}
"""


async def test_alerts_filter_by_key_and_list_the_acknowledged_on_their_own(
    traffic: Traffic,
) -> None:
    first = traffic.key
    second = await create_key(traffic.gql, traffic.owner, traffic.project["id"])
    for key in (first, second):
        await traffic.gql.execute(
            DELETE_KEY, {"input": {"id": key["id"]}}, traffic.owner.access_token
        )
        traffic.key = key
        await traffic.calls(1)
    alerts = await traffic.alerts()
    first_alert = next(a for a in alerts if a["apiKeyId"] == first["id"])
    await traffic.gql.execute(
        ACKNOWLEDGE, {"input": {"id": first_alert["id"]}}, traffic.owner.access_token
    )

    async def listed(key: str | None, only_acknowledged: bool) -> list[tuple[str, bool]]:
        data = await traffic.query(
            FILTERED_ALERTS,
            {"id": traffic.project["id"], "key": key, "onlyAcknowledged": only_acknowledged},
        )
        return [
            (edge["node"]["apiKeyId"], edge["node"]["acknowledgedAt"] is not None)
            for edge in data["project"]["securityAlerts"]["edges"]
        ]

    assert await listed(None, False) == [(second["id"], False)]
    assert await listed(None, True) == [(first["id"], True)]
    assert await listed(first["id"], False) == []
    assert await listed(first["id"], True) == [(first["id"], True)]
    assert await listed(second["id"], False) == [(second["id"], False)]
    assert await listed("no-such-key", False) == []
