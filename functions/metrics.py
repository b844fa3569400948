"""Prometheus metrics of ``cfa serve``, in a registry of its own (served at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class FunctionsMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events = Counter(
            "cfa_events", "Events received, by source and type.", ["source", "type"], registry=r
        )
        self.outcomes = Counter(
            "cfa_handler_outcomes",
            "Handler runs by handler and outcome (ok, retry, busy, gave_up, error).",
            ["handler", "outcome"],
            registry=r,
        )
        self.latency = Histogram(
            "cfa_handler_seconds",
            "Handler run time.",
            ["handler"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 180),
            registry=r,
        )
        self.queue_depth = Gauge("cfa_queue_depth", "Events waiting for a handler.", registry=r)
        self.running = Gauge("cfa_handlers_running", "Handlers running now.", registry=r)
        self.reconnects = Counter(
            "cfa_realtime_reconnects", "Realtime (re)connects, by reason.", ["reason"], registry=r
        )
        self.subscribed = Gauge(
            "cfa_realtime_subscribed", "1 while the realtime subscription is proven.", registry=r
        )
        self.drift = Counter(
            "cfa_reconcile_drift", "Drift the reconciler found, by kind.", ["kind"], registry=r
        )
        self.orphans = Gauge(
            "cfa_reconcile_orphans",
            "Orphans found by the last reconcile pass, by kind.",
            ["kind"],
            registry=r,
        )
        self.reconcile_calls = Gauge(
            "cfa_reconcile_coolify_calls", "Coolify requests of the last reconcile pass.", registry=r
        )
        self.webhooks = Counter("cfa_webhooks", "Coolify webhooks by result.", ["result"], registry=r)
