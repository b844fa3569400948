"""Detectors: pure functions from events and inspected state to :class:`monitor.findings.Finding`.

They read no clock, do no I/O and keep no state; everything they need is passed in.
"""
