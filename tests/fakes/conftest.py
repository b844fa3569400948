"""The fakes' own tests use the shared fixtures: a strict fake, its manual clock, an in-process client."""

from tests.fakes.fixtures import coolify_client, coolify_clock, coolify_fake  # noqa: F401
