"""Template tests that provision use the operation fixtures: real PocketBase and the fake Coolify."""

from __future__ import annotations

from tests.functions.conftest import make_ctx, templates_dir

__all__ = ["make_ctx", "templates_dir"]
