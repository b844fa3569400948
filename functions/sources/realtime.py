"""PocketBase realtime (SSE) in, events out: ``tenants/*``, ``stacks/*`` and ``secret_inputs/*``.

What PocketBase does (``pocketbase.md`` §4) and how this copes:

- It closes every stream after 5 idle minutes and after 30 minutes at most, cleanly (EOF), and a
  reconnect gets a new client id: every EOF and every error leads to a new connection, the subscription
  POSTed again, with backoff and jitter on errors.
- Nothing is replayed: after every (re)connect a **catch-up sweep** reads the records updated since the
  last one seen (minus ``CFA_CATCHUP_MARGIN_SECONDS``; everything on the first connect) and submits
  them as events, and only then is the stream trusted (``ready``).
- A subscription POSTed with an expired token is silently a guest's and receives nothing: the token is
  refreshed before it expires (the PocketBase client logs in again ahead of ``exp``), and each
  connection is **proven** by writing a probe record (``realtime_probes``) and waiting for its event. A
  connection that does not deliver its probe within ``PROBE_TIMEOUT`` is dropped and made again. The
  probe is repeated every ``CFA_REALTIME_PROBE_SECONDS``, which also keeps the stream from going idle.

Events carry only record ids (the handlers re-read the records); record bodies, which may hold secret
values, are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
from httpx_sse import aconnect_sse

from functions.events import AnyEvent, SecretInputReceived, Source, StackRecordChanged, TenantRecordChanged
from functions.locks import parse_stamp, stamp
from functions.metrics import FunctionsMetrics
from shared.errors import CfaError
from shared.logging import get_logger
from shared.pocketbase.client import PocketBase
from shared.pocketbase.filters import pb_filter
from shared.settings import Settings

log = get_logger()

TOPICS = ("tenants/*", "stacks/*", "secret_inputs/*", "realtime_probes/*")
PROBE_TIMEOUT = 10.0
OUTAGE_ALERT_AFTER = 60.0
_BACKOFF_MAX = 30.0


class SubscriptionUnproven(Exception):
    """The probe record's event did not arrive: the subscription delivers nothing (a guest's?)."""


def event_for(collection: str, record_id: str, source: Source) -> AnyEvent | None:
    if collection == "tenants":
        return TenantRecordChanged(tenant_id=record_id, source=source)
    if collection == "stacks":
        return StackRecordChanged(stack_id=record_id, source=source)
    if collection == "secret_inputs":
        return SecretInputReceived(input_id=record_id, source=source)
    return None


class RealtimeSubscriber:
    def __init__(
        self,
        settings: Settings,
        pb: PocketBase,
        submit: Callable[[AnyEvent], None],
        metrics: FunctionsMetrics,
        *,
        on_outage: Callable[[bool, str], None] = lambda _down, _why: None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.on_outage = on_outage
        self.pb = pb
        self.submit = submit
        self.metrics = metrics
        self.owner = f"functions-{uuid.uuid4().hex[:12]}"
        self.ready = False
        self.connects = 0
        self._last_seen: datetime | None = None
        self._down_since: float | None = None
        self._outage_reported = False
        self._probes: dict[str, asyncio.Future[None]] = {}
        self._rng = rng or random.Random()
        self._http = httpx.AsyncClient(base_url=pb.base_url, timeout=httpx.Timeout(10.0, read=None))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def run(self) -> None:
        """Subscribe, sweep, prove, listen; again after every end of the stream. Runs until cancelled.

        PocketBase out of reach for ``OUTAGE_ALERT_AFTER`` seconds is reported through ``on_outage``
        (once; ``on_outage(False)`` when it is back)."""
        delay = 0.5
        while True:
            reason = "eof"
            try:
                await self._connect_once()
                delay = 0.5  # a clean close (idle or lifetime): reconnect at once
            except asyncio.CancelledError:
                raise
            except (httpx.HTTPError, CfaError, SubscriptionUnproven, ValueError) as err:
                reason = type(err).__name__
                log.warning("realtime.disconnected", reason=reason, retry_in=round(delay, 1))
                now = asyncio.get_running_loop().time()
                if self._down_since is None:
                    self._down_since = now
                if not self._outage_reported and now - self._down_since >= OUTAGE_ALERT_AFTER:
                    self._outage_reported = True
                    self.on_outage(True, f"{reason}: {err}")
                await asyncio.sleep(delay * (0.5 + self._rng.random()))
                delay = min(delay * 2, _BACKOFF_MAX)
            self.metrics.reconnects.labels(reason=reason).inc()

    async def _connect_once(self) -> None:
        try:
            await self._stream()
        finally:
            self.ready = False
            self.metrics.subscribed.set(0)
            for waiter in self._probes.values():
                waiter.cancel()
            self._probes.clear()

    async def _stream(self) -> None:
        async with aconnect_sse(self._http, "GET", "/api/realtime") as source:
            source.response.raise_for_status()
            events = source.aiter_sse()
            first = await anext(events)
            if first.event != "PB_CONNECT":
                raise ValueError(f"realtime stream began with {first.event!r}, not PB_CONNECT")
            client_id = str(json.loads(first.data)["clientId"])
            response = await self.pb.request(
                "POST", "/api/realtime", json={"clientId": client_id, "subscriptions": list(TOPICS)}
            )
            if response.status_code != 204:
                raise ValueError(f"the realtime subscription was refused ({response.status_code})")
            self.connects += 1
            log.info("realtime.subscribed", topics=list(TOPICS), connects=self.connects)
            listener = asyncio.create_task(self._listen(events))
            prover: asyncio.Task[None] | None = None
            try:
                await self._sweep()  # while the listener already takes what arrives meanwhile
                prover = asyncio.create_task(self._prove_forever())
                done, _ = await asyncio.wait({listener, prover}, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()  # raise what ended it (EOF returns normally)
            finally:
                for task in [t for t in (listener, prover) if t is not None]:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task

    async def _listen(self, events: object) -> None:
        async for message in events:  # type: ignore[attr-defined]
            if not message.data:
                continue
            payload = json.loads(message.data)
            record = payload.get("record") or {}
            collection = str(record.get("collectionName") or message.event.split("/", 1)[0])
            record_id = str(record.get("id", ""))
            self._saw(str(record.get("updated") or ""))
            if collection == "realtime_probes":
                waiter = self._probes.get(record_id)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
                continue
            if payload.get("action") == "delete":
                continue  # a deleted record needs nothing from us (deletes are status changes here)
            event = event_for(collection, record_id, "realtime")
            if event is not None:
                self.submit(event)
        log.info("realtime.stream_closed")  # PocketBase's idle or lifetime close: reconnect

    async def _prove_forever(self) -> None:
        while True:
            await self._prove()
            if not self.ready:
                self.ready = True
                self.metrics.subscribed.set(1)
                log.info("realtime.ready")
                if self._outage_reported:
                    self.on_outage(False, "")
                self._down_since, self._outage_reported = None, False
            await asyncio.sleep(self.settings.realtime_probe_seconds)

    async def _prove(self) -> None:
        """Write a probe record and wait for its event; SubscriptionUnproven if it never comes."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        # Our own id, registered before the create: the event may arrive before the create returns.
        probe_id = "".join(self._rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(15))
        self._probes[probe_id] = waiter
        try:
            await self.pb.create_record("realtime_probes", {"id": probe_id, "owner": self.owner})
            await asyncio.wait_for(waiter, PROBE_TIMEOUT)
        except TimeoutError:
            raise SubscriptionUnproven(
                f"probe {probe_id} was not delivered within {PROBE_TIMEOUT:.0f}s"
            ) from None
        finally:
            self._probes.pop(probe_id, None)
            with contextlib.suppress(CfaError):
                await self.pb.delete_record("realtime_probes", probe_id)

    async def _sweep(self) -> None:
        """Submit every record updated since the last one seen (minus the margin); all of them the first
        time. Only after this is the stream trusted."""
        since = None
        if self._last_seen is not None:
            since = stamp(self._last_seen - timedelta(seconds=self.settings.catchup_margin_seconds))
        swept = 0
        for collection in ("tenants", "stacks", "secret_inputs"):
            query = pb_filter("updated >= {:since}", since=since) if since else None
            for record in await self.pb.list_records(collection, filter=query, sort="updated"):
                self._saw(str(record.get("updated") or ""))
                event = event_for(collection, str(record["id"]), "catchup")
                if event is not None:
                    self.submit(event)
                    swept += 1
        log.info("realtime.caught_up", since=since or "the beginning", records=swept)

    def _saw(self, updated: str) -> None:
        moment = parse_stamp(updated.replace("T", " ")) if updated else None
        if moment is not None and (self._last_seen is None or moment > self._last_seen):
            self._last_seen = moment.astimezone(UTC)
