"""One small handler per event (``handle(runtime, event, attempt)``), named for the event it handles.

Each re-reads the records the event names and calls the operations in ``functions/operations/``;
none talks to Coolify itself. ``outcomes.py`` holds what they share: when to retry, when to give up
(the stack is failed, audited and alerted once) and the configuration digest that stops a failed stack
from being retried by every later event until something changes.
"""
