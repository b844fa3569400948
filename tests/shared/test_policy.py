"""The hardening policy: each rule catches the problem it exists for."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from shared.catalog import Template
from shared.policy import check_policy
from tests.shared.template_factory import make_template

GOOD: dict[str, Any] = {
    "services": {
        "app": {
            "image": "registry.example.com/probe:1.0.0",
            "user": "1000:1000",
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges:true"],
            "cpus": 0.25,
            "mem_limit": "64M",
            "pids_limit": 32,
            "logging": {"driver": "json-file", "options": {"max-size": "10m", "max-file": "3"}},
            "healthcheck": {"test": ["CMD", "true"]},
            "labels": {
                "cf.managed": "true",
                "cf.tenant": "acme",
                "cf.stack": "probe",
                "cf.template": "probe",
                "cf.plan": "starter",
            },
        }
    }
}


@pytest.fixture
def template(tmp_path: Path) -> Template:
    return make_template(tmp_path)


def problems_with(template: Template, change: dict[str, Any], *, remove: tuple[str, ...] = ()) -> list[str]:
    compose = copy.deepcopy(GOOD)
    service = compose["services"]["app"]
    service.update(change)
    for key in remove:
        service.pop(key)
    return check_policy(compose, template, template.profile("starter"))


def test_the_compliant_service_passes(template: Template) -> None:
    """The reference service has no problems (so every other test isolates one rule)."""
    assert problems_with(template, {}) == []


CASES: list[tuple[str, dict[str, Any], tuple[str, ...], str]] = [
    ("ports", {"ports": ["8080:8080"]}, (), "publishes host ports"),
    ("build", {"build": "."}, (), "needs a build"),
    ("privileged", {"privileged": True}, (), "runs privileged"),
    ("host network", {"network_mode": "host"}, (), "network_mode: host"),
    ("host pid", {"pid": "host"}, (), "pid: host"),
    ("other container's network", {"network_mode": "container:x"}, (), "network_mode"),
    ("no cap_drop", {}, ("cap_drop",), "cap_drop must contain ALL"),
    ("cap_add", {"cap_add": ["NET_ADMIN"]}, (), "adds Linux capabilities"),
    ("no no-new-privileges", {"security_opt": []}, (), "no-new-privileges"),
    ("seccomp off", {"security_opt": ["no-new-privileges:true", "seccomp=unconfined"]}, (), "seccomp"),
    ("docker socket", {"volumes": ["/var/run/docker.sock:/var/run/docker.sock:ro"]}, (), "Docker socket"),
    ("host bind", {"volumes": ["/etc:/host-etc"]}, (), "bind-mounts host path"),
    ("relative bind", {"volumes": ["./data:/data"]}, (), "bind-mounts host path"),
    ("long bind", {"volumes": [{"type": "bind", "source": "/srv", "target": "/srv"}]}, (), "bind-mounts"),
    ("root user", {"user": "0:0"}, (), "non-root"),
    ("named root", {"user": "root"}, (), "non-root"),
    ("no user", {}, ("user",), "non-root"),
    ("no healthcheck", {}, ("healthcheck",), "no healthcheck"),
    ("disabled healthcheck", {"healthcheck": {"disable": True}}, (), "no healthcheck"),
    ("no cpus", {}, ("cpus",), "cpus is None"),
    ("no memory", {}, ("mem_limit",), "mem_limit is None"),
    ("other cpus", {"cpus": 2}, (), "cpus is 2"),
    ("other memory", {"mem_limit": "1g"}, (), "mem_limit is 1g"),
    ("no pids", {}, ("pids_limit",), "pids_limit"),
    (
        "deploy limits",
        {"deploy": {"resources": {"limits": {"cpus": 0.25, "memory": "64M", "pids": 32}}}},
        (),
        "`deploy` is not allowed",
    ),
    ("swap beyond the limit", {"memswap_limit": "1g"}, (), "`memswap_limit` is not allowed"),
    ("cpu quota", {"cpu_quota": 200000}, (), "`cpu_quota` is not allowed"),
    ("oom killer off", {"oom_kill_disable": True}, (), "`oom_kill_disable` is not allowed"),
    ("unrotated logs", {"logging": {"driver": "json-file"}}, (), "logging must rotate"),
    ("no logging", {}, ("logging",), "logging must rotate"),
    ("missing labels", {"labels": {}}, (), "label cf.managed is missing"),
    (
        "traefik label",
        {"labels": {**GOOD["services"]["app"]["labels"], "traefik.enable": "true"}},
        (),
        "reserved",
    ),
    ("latest image", {"image": "registry.example.com/probe:latest"}, (), "not pinned"),
    ("untagged image", {"image": "registry.example.com/probe"}, (), "not pinned"),
    (
        "coolify domain magic",
        {"environment": {"SERVICE_URL_APP_8080": ""}},
        (),
        "generate a (plain http) domain",
    ),
    ("devices", {"devices": ["/dev/kvm"]}, (), "host devices"),
]


@pytest.mark.parametrize(("change", "remove", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_rule(
    template: Template, change: dict[str, Any], remove: tuple[str, ...], expected: str
) -> None:
    """The rule for this hazard reports it."""
    problems = problems_with(template, change, remove=remove)
    assert any(expected in p for p in problems), problems


def test_digest_pinned_images_pass(template: Template) -> None:
    """An image pinned by digest passes even with a rolling tag name."""
    assert problems_with(template, {"image": "registry.example.com/probe:main@sha256:" + "b" * 64}) == []


def test_named_volumes_and_tmpfs_pass(template: Template) -> None:
    """Named volumes and tmpfs mounts are the allowed kinds of storage."""
    volumes = [
        "data:/data",
        {"type": "tmpfs", "target": "/tmp"},
        {"type": "volume", "source": "x", "target": "/x"},
    ]
    assert problems_with(template, {"volumes": volumes}) == []


def test_declared_root_exception_allows_root(tmp_path: Path) -> None:
    """A template-declared root exception (with reason and compensating controls) lifts the user rule."""
    template = make_template(
        tmp_path,
        meta={
            "services": {
                "app": {
                    "role": "main",
                    "root_exception": {
                        "reason": "the upstream image only works as root for now",
                        "compensating_controls": ["cap_drop ALL", "no-new-privileges"],
                    },
                }
            }
        },
    )
    assert problems_with(template, {"user": "0:0"}) == []


def test_init_services_need_restart_no_but_no_healthcheck(tmp_path: Path) -> None:
    """A one-shot init service is exempt from the healthcheck rule but must not restart."""
    template = make_template(tmp_path, meta={"services": {"app": {"role": "init"}}})
    assert problems_with(template, {"restart": "no"}, remove=("healthcheck",)) == []
    assert any("restart" in p for p in problems_with(template, {}, remove=("healthcheck",)))


def test_top_level_hazards(template: Template) -> None:
    """Volumes with driver options and declared networks are refused."""
    compose = copy.deepcopy(GOOD)
    compose["volumes"] = {"data": {"driver_opts": {"type": "none", "o": "bind", "device": "/srv"}}}
    compose["networks"] = {"shared": {"external": True}}
    problems = check_policy(compose, template, template.profile("starter"))
    assert any("driver_opts" in p for p in problems) and any("networks" in p for p in problems)


def test_optional_services_may_be_absent_but_required_ones_may_not(tmp_path: Path) -> None:
    """An optional service may be left out of the compose; a required or an undeclared one may not."""
    limits = {"cpus": 0.25, "memory": "64M", "pids": 32}
    template = make_template(
        tmp_path,
        meta={
            "services": {"app": {"role": "main"}, "proxy": {"role": "sidecar", "optional": True}},
            "resources": {
                plan: {"services": {"app": limits, "proxy": limits}}
                for plan in ("starter", "team", "business", "sovereign")
            },
        },
    )
    assert problems_with(template, {}) == []
    compose = copy.deepcopy(GOOD)
    compose["services"]["other"] = copy.deepcopy(compose["services"]["app"])
    assert any("differ" in p for p in check_policy(compose, template, template.profile("starter")))
    compose = copy.deepcopy(GOOD)
    compose["services"] = {"proxy": compose["services"]["app"]}
    assert any("differ" in p for p in check_policy(compose, template, template.profile("starter")))


COOLIFY_REWRITES = {
    "required reference": ({"K": "${K:?}"}, "starting with $"),
    "reference with text": ({"K": "${K}/x"}, "starting with $"),
    "doubled dollar first": ({"P": "$$5 a month"}, "starting with $"),
    "shared variable": ({"P": "x {{team.DB_PASSWORD}}"}, "shared variables"),
    "magic in the middle": ({"P": "see $$SERVICE_FQDN_APP"}, "$SERVICE_"),
    "magic braced": ({"P": "x ${SERVICE_PASSWORD_X}"}, "$SERVICE_"),
    "coolify's own key": ({"COOLIFY_FQDN": "x"}, "Coolify's own"),
    "list form": (["P={{team.X}}"], "shared variables"),
}


@pytest.mark.parametrize(("environment", "expected"), COOLIFY_REWRITES.values(), ids=list(COOLIFY_REWRITES))
def test_environment_values_coolifys_parser_would_rewrite_are_refused(
    template: Template, environment: Any, expected: str
) -> None:
    """What Coolify's service parser reads in an environment value (§15) never reaches it."""
    problems = problems_with(template, {"environment": environment})
    assert any(expected in p for p in problems), problems


def test_plain_references_and_text_with_dollars_inside_pass(template: Template) -> None:
    """`${NAME}` (a secret reference), base64, and a `$$` that is not first are left alone by Coolify."""
    environment = {"K": "${K}", "O": "${OTHER}", "P": "costs $$5", "B": "e3t0ZWFtLlh9fQ==", "N": None}
    assert problems_with(template, {"environment": environment}) == []
