"""Where the events of ``cfa serve`` come from: PocketBase realtime (with its catch-up sweep), the
Coolify webhook receiver, the status poller and the reconciler. Each only turns what it sees into
events for the dispatcher (the poller also settles what it observes, as ``cfa status`` does)."""
