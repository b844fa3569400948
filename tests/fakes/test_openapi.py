"""The OpenAPI request checker: what it flags, what the allow-listed deviations let through."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.compose import encode_compose
from tests.fakes.coolify_routes import ROUTES
from tests.fakes.openapi import KNOWN_DEVIATIONS, SPEC_AVAILABLE, SPEC_PATH, SpecValidator, load_raw_spec

pytestmark = pytest.mark.skipif(not SPEC_AVAILABLE, reason="../shared/coolify/openapi.yaml is not present")

JSON = "application/json"


@pytest.fixture(scope="module")
def validator() -> SpecValidator:
    return SpecValidator()


def check(validator: SpecValidator, method: str, path: str, body: Any = None, **query: str) -> list[str]:
    return validator.check(
        method,
        path,
        list(query.items()),
        body,
        has_body=body is not None,
        content_type=JSON if body else None,
    )


def create_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "acme",
        "project_uuid": "p",
        "environment_name": "production",
        "server_uuid": "s",
        "docker_compose_raw": encode_compose("services: {web: {image: nginx}}\n"),
        "instant_deploy": False,
        "urls": [{"name": "web", "url": "https://acme.example.com"}],
    }
    body.update(overrides)
    return body


class TestOperations:
    def test_valid_create_service_passes(self, validator: SpecValidator) -> None:
        """The provisioner's create-service body is valid."""
        assert check(validator, "POST", "/api/v1/services", create_body()) == []

    def test_unknown_path_is_flagged(self, validator: SpecValidator) -> None:
        """A path the spec does not have is a violation."""
        assert check(validator, "GET", "/api/v1/nothing") == ["GET /api/v1/nothing: path not in the spec"]

    def test_unknown_method_is_flagged(self, validator: SpecValidator) -> None:
        """A method the spec does not list for a known path is a violation."""
        assert check(validator, "PUT", "/api/v1/projects") == [
            "PUT /api/v1/projects: method not in the spec for this path"
        ]

    def test_literal_segments_win_over_parameters(self, validator: SpecValidator) -> None:
        """``/projects/{uuid}/environments`` matches its own operation, not ``{environment_name_or_uuid}``."""
        assert check(validator, "POST", "/api/v1/projects/p/environments", {"name": "staging"}) == []

    def test_unversioned_health_is_exempt(self, validator: SpecValidator) -> None:
        """``/api/health`` is not in the spec but is not a violation; ``/api/v1/health`` is in it."""
        assert check(validator, "GET", "/api/health") == []
        assert check(validator, "GET", "/api/v1/health") == []

    def test_outside_api_v1_is_flagged(self, validator: SpecValidator) -> None:
        """Any other path outside /api/v1 is a violation."""
        assert check(validator, "GET", "/api/v2/projects") == [
            "GET /api/v2/projects: not an /api/v1 route and not in the spec"
        ]


class TestParameters:
    def test_boolean_query_flags(self, validator: SpecValidator) -> None:
        """``delete_volumes=false`` is a valid boolean; ``no`` is not."""
        assert check(validator, "DELETE", "/api/v1/services/x", delete_volumes="false") == []
        [problem] = check(validator, "DELETE", "/api/v1/services/x", delete_volumes="no")
        assert "query parameter 'delete_volumes'='no'" in problem

    def test_unknown_query_parameter_is_flagged(self, validator: SpecValidator) -> None:
        """A query parameter the operation does not declare is a violation."""
        assert check(validator, "DELETE", "/api/v1/services/x", purge="true") == [
            "DELETE /api/v1/services/x: query parameter 'purge' is not in the spec"
        ]


class TestBodies:
    def test_unknown_field_is_flagged_with_hint(self, validator: SpecValidator) -> None:
        """A key outside the schema is flagged, saying Coolify would refuse it."""
        [problem] = check(validator, "POST", "/api/v1/services", create_body(connect_to_docker_network=True))
        assert "connect_to_docker_network" in problem
        assert "This field is not allowed." in problem

    def test_wrong_type_is_flagged(self, validator: SpecValidator) -> None:
        """A string where the schema wants a boolean is flagged with its location."""
        [problem] = check(validator, "POST", "/api/v1/services", create_body(instant_deploy="yes"))
        assert problem.startswith(
            "POST /api/v1/services: body['instant_deploy']: 'yes' is not of type 'boolean'"
        )

    def test_missing_required_body(self, validator: SpecValidator) -> None:
        """An operation with a required body flags a request without one."""
        assert check(validator, "POST", "/api/v1/projects") == [
            "POST /api/v1/projects: request body is required"
        ]

    def test_body_where_none_is_taken(self, validator: SpecValidator) -> None:
        """A body on an operation that takes none is flagged."""
        assert check(validator, "POST", "/api/v1/services/x/start", {"force": True}) == [
            "POST /api/v1/services/x/start: the operation takes no request body"
        ]

    def test_non_json_content_type(self, validator: SpecValidator) -> None:
        """A JSON operation sent another content type is flagged."""
        problems = validator.check(
            "POST", "/api/v1/projects", [], None, has_body=True, content_type="text/plain"
        )
        assert problems == ["POST /api/v1/projects: Content-Type 'text/plain' is not application/json"]

    def test_nullable_is_honoured(self, validator: SpecValidator) -> None:
        """``nullable: true`` in the spec lets ``null`` through (description of a service)."""
        assert check(validator, "POST", "/api/v1/services", create_body(description=None)) == []


class TestDeviations:
    def test_environment_uuid_alone_is_accepted(self, validator: SpecValidator) -> None:
        """Either environment field is enough, against the spec's "both required"."""
        body = create_body(environment_uuid="e")
        del body["environment_name"]
        assert check(validator, "POST", "/api/v1/services", body) == []

    def test_no_environment_at_all_is_still_flagged(self, validator: SpecValidator) -> None:
        """With neither environment field the body is still a violation."""
        body = create_body()
        del body["environment_name"]
        assert len(check(validator, "POST", "/api/v1/services", body)) == 1

    def test_url_may_be_null(self, validator: SpecValidator) -> None:
        """``urls[].url`` may be null (clears a domain)."""
        assert (
            check(validator, "POST", "/api/v1/services", create_body(urls=[{"name": "web", "url": None}]))
            == []
        )

    def test_env_bodies_take_comment_and_null_value(self, validator: SpecValidator) -> None:
        """Env create, update and bulk accept ``comment`` and a null ``value``; update needs only ``key``."""
        item = {"key": "A", "value": None, "comment": "why"}
        assert check(validator, "POST", "/api/v1/services/x/envs", item) == []
        assert check(validator, "PATCH", "/api/v1/services/x/envs", {"key": "A"}) == []
        assert check(validator, "PATCH", "/api/v1/services/x/envs/bulk", {"data": [item]}) == []

    def test_each_deviation_is_still_needed(self) -> None:
        """The raw spec still says what each allow-list entry corrects (drop entries upstream fixes)."""
        assert SPEC_PATH is not None
        raw = load_raw_spec(SPEC_PATH)

        def schema(method: str, path: str) -> dict[str, Any]:
            found: dict[str, Any] = raw["paths"][path][method]["requestBody"]["content"][JSON]["schema"]
            return found

        assert {"environment_name", "environment_uuid"} <= set(schema("post", "/services")["required"])
        assert (
            schema("post", "/services")["properties"]["urls"]["items"]["properties"]["url"]["type"]
            == "string"
        )
        assert (
            schema("patch", "/services/{uuid}")["properties"]["urls"]["items"]["properties"]["url"]["type"]
            == "string"
        )
        assert "comment" not in schema("post", "/services/{uuid}/envs")["properties"]
        assert "value" in schema("patch", "/services/{uuid}/envs")["required"]
        assert (
            "comment"
            not in schema("patch", "/services/{uuid}/envs/bulk")["properties"]["data"]["items"]["properties"]
        )
        assert {(d.method, d.path) for d in KNOWN_DEVIATIONS} <= {
            (m.upper(), p) for p, item in raw["paths"].items() for m in item
        }


class TestAgainstTheFake:
    def test_every_fake_route_is_in_the_spec(self, validator: SpecValidator) -> None:
        """Each route the fake serves maps to a spec operation, except the GET-405 lifecycle routes."""
        for route in ROUTES:
            path = re.sub(r"\(\?P<(\w+)>\[\^/\]\+\)", "x", route.pattern.pattern.strip("^$")).replace(
                "\\", ""
            )
            problems = check(validator, route.method, path)
            unknown = [p for p in problems if "not in the spec" in p]
            if route.method == "GET" and path.endswith(("/start", "/stop", "/restart")):
                assert unknown, path
            else:
                assert unknown == [], path

    def test_missing_spec_disables_checks(self, tmp_path: Path) -> None:
        """Without the spec file the validator is unavailable and reports nothing."""
        absent = SpecValidator(tmp_path / "openapi.yaml")
        assert absent.available is False
        assert absent.check("GET", "/api/v1/nothing", [], None, has_body=False, content_type=None) == []
