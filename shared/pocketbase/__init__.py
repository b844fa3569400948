"""PocketBase: a thin async client, safe filters, the schema migration and the embedded server."""
