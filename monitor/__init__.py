"""The monitor sidecar: Docker events and disk usage → deduplicated, tenant-attributed alerts via Apprise.

Entry points: ``python -m monitor`` / ``cfa monitor`` (:mod:`monitor.cli`) and
:class:`monitor.service.Monitor`.
"""
