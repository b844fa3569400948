"""Prometheus metrics of the monitor itself, in a registry of its own (one per Monitor instance)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

KNOWN_ACTIONS = frozenset({"start", "die", "kill", "stop", "oom", "destroy", "health_status", "restart"})


class MonitorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events = Counter("cfmon_events", "Container events received, by action.", ["action"], registry=r)
        self.events_dropped = Counter(
            "cfmon_events_dropped", "Events dropped because the processing queue was full.", registry=r
        )
        self.replayed = Counter(
            "cfmon_events_replay_skipped", "Replayed events dropped as duplicates.", registry=r
        )
        self.event_lag = Histogram(
            "cfmon_event_lag_seconds",
            "From the event's own timeNano to the end of its processing.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=r,
        )
        self.last_event = Gauge(
            "cfmon_last_event_timestamp_seconds", "timeNano of the last event.", registry=r
        )
        self.incidents = Gauge(
            "cfmon_incidents", "Incidents by kind and state.", ["kind", "state"], registry=r
        )
        self.notifications = Counter(
            "cfmon_notifications",
            "Notifications by result (sent, failed, unrouted, suppressed).",
            ["result"],
            registry=r,
        )
        self.delivery_delay = Histogram(
            "cfmon_delivery_delay_seconds",
            "From queueing a message to its delivery.",
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 3600),
            registry=r,
        )
        self.outbox = Gauge("cfmon_outbox_messages", "Messages waiting in the outbox.", ["state"], registry=r)
        self.reconnects = Counter("cfmon_stream_reconnects", "Event stream reconnects.", registry=r)
        self.connected = Gauge("cfmon_stream_connected", "1 while the Docker event stream is up.", registry=r)
        self.rechecks = Counter("cfmon_rechecks", "Full state re-checks, by reason.", ["reason"], registry=r)
        self.heartbeats = Counter("cfmon_heartbeats", "Heartbeat pings by result.", ["result"], registry=r)
        for action in KNOWN_ACTIONS:
            self.events.labels(action=action)
        for result in ("sent", "failed", "unrouted", "suppressed"):
            self.notifications.labels(result=result)

    def count_event(self, verb: str) -> None:
        self.events.labels(action=verb if verb in KNOWN_ACTIONS else "other").inc()
