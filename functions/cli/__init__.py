"""The ``cfa`` command line."""
