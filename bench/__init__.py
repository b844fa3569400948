"""Benchmark scripts (run as files: ``python bench/<name>.py``)."""
