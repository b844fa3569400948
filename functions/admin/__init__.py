"""The operators' admin pages, served by ``cfa serve`` under ``/admin``.

Server-rendered (Starlette + Jinja2, htmx vendored in ``static/``). Every button calls the same operation
as the CLI (``functions/operations/``) with the signed-in operator as the audit actor; nothing here is a
second implementation. See ``docs/admin.md``.
"""
