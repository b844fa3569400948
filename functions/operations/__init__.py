"""Plain async operations that the CLI, the event handlers and the admin page all call.

Each is idempotent and crash-safe: it records intent in PocketBase before a change, finds what exists
(stored uuid, then deterministic name) before creating, stores every uuid the moment it exists, and
writes an audit event per step. Re-running after any failure converges.
"""
