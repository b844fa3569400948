"""The stack template catalog: ``templates/<name>/template.yaml`` + ``compose.yml.j2`` (+ README.md).

``template.yaml`` declares typed parameters (type, required, default, secret, env), the secrets the
stack needs generated, the plan minimum, a resource profile per plan and service, the exposed
service and container port, volumes and their budget, and any declared exceptions to the hardening
policy (with the reason). Loading validates all of it; a broken template is a ``TemplateError``.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.errors import InvalidInput, NotFoundError, TemplateError
from shared.naming import did_you_mean
from shared.plans import PLAN_ORDER
from shared.secrets import SecretKind

ParamType = Literal[
    "string", "text", "integer", "boolean", "enum", "url", "image", "string_list", "integer_list", "schedules"
]
_ENV_KEY = r"^[A-Z][A-Z0-9_]*$"
_UNITS = {"b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(value: str | int) -> int:
    """Compose-style byte sizes: ``256M``, ``1g``, ``512m``, ``1GB``, or a plain number of bytes."""
    if isinstance(value, int):
        return value
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([bkmg]?)b?\s*", value.lower())
    if not match:
        raise ValueError(f"not a size: {value!r}")
    number, unit = match.groups()
    return int(float(number) * _UNITS[unit or "b"])


class _Meta(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParamSpec(_Meta):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    type: ParamType
    description: str
    required: bool = False
    default: Any = None
    secret: bool = False
    env: str | None = Field(default=None, pattern=_ENV_KEY)
    pattern: str | None = None
    format: str | None = None  # the pattern for people, e.g. "16-256 characters of A-Z a-z 0-9 _ . : -"
    min_length: int | None = None
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    values: list[str] | None = None
    max_items: int | None = None
    min_items: int | None = None
    example: Any = None  # a valid value for docs, `cfa doctor` and the policy tests (required params)

    @model_validator(mode="after")
    def _consistent(self) -> ParamSpec:
        if self.secret and not self.env:
            raise ValueError(f"secret parameter {self.name} needs an env name (secrets go to Coolify envs)")
        if self.secret and self.default is not None:
            raise ValueError(f"secret parameter {self.name} cannot have a default")
        if self.type == "enum" and not self.values:
            raise ValueError(f"enum parameter {self.name} needs values")
        if self.required and self.default is not None:
            raise ValueError(f"parameter {self.name} is required, so a default would never be used")
        if self.pattern and not self.format:
            raise ValueError(f"parameter {self.name} has a pattern: describe it for people in `format`")
        return self


class GeneratedSecret(_Meta):
    """``rotation`` says what ``cfa rotate`` may do with it: ``routine`` (rotated by default; the new
    value takes effect at the restart), ``explicit`` (only when named with ``--only``, because of what
    ``rotation_note`` says happens) or ``unsupported`` (refused; the note says what to do instead)."""

    env: str = Field(pattern=_ENV_KEY)
    kind: SecretKind
    length: int = Field(default=32, ge=16, le=128)
    description: str
    credential: bool = False  # shown by `cfa status --show-credentials` (audited)
    rotation: Literal["routine", "explicit", "unsupported"] = "routine"
    rotation_note: str = ""

    @model_validator(mode="after")
    def _rotation_explained(self) -> GeneratedSecret:
        if self.rotation != "routine" and not self.rotation_note:
            raise ValueError(f"secret {self.env}: rotation {self.rotation} needs a rotation_note saying why")
        return self


class SecretAlias(_Meta):
    """A service variable that carries another secret's value under the name a third-party image reads.

    Coolify keeps ``KEY: ${KEY}`` a reference, but writes the plaintext value into the deployed compose
    for ``KEY: ${OTHER}`` (``coolify-api.md`` §15, parsers.php:2385): so an image that needs a secret under
    another name gets a variable of its own, pushed with the stack's secrets, and the compose says
    ``KEY: ${KEY}``. ``when`` (parameter → value) picks the source among several aliases of one name.
    """

    env: str = Field(pattern=_ENV_KEY)
    source: str = Field(pattern=_ENV_KEY)
    when: dict[str, str] = Field(default_factory=dict)


class ServiceLimits(_Meta):
    cpus: float = Field(gt=0)
    memory: str
    pids: int = Field(gt=0)

    @property
    def memory_bytes(self) -> int:
        return parse_size(self.memory)

    @model_validator(mode="after")
    def _memory_parses(self) -> ServiceLimits:
        parse_size(self.memory)
        return self


class PlanProfile(_Meta):
    services: dict[str, ServiceLimits]
    volume_budget: str = "0"

    @property
    def volume_budget_bytes(self) -> int:
        return parse_size(self.volume_budget)


class RootException(_Meta):
    reason: str = Field(min_length=20)
    compensating_controls: list[str] = Field(min_length=1)


class ServiceSpec(_Meta):
    role: Literal["main", "sidecar", "init"] = "main"
    root_exception: RootException | None = None
    # Rendered only for some parameter values (a sidecar behind a switch); may be absent from the compose.
    optional: bool = False


class Exposure(_Meta):
    service: str
    port: int = Field(ge=1, le=65535)


class VolumeSpec(_Meta):
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    service: str
    mount: str
    description: str


class TemplateMeta(_Meta):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    title: str
    description: str
    version: str
    plan_minimum: Literal["starter", "team", "business", "sovereign"]
    default_stack_name: str
    stateful: bool
    needs_router: bool = False
    parameters: list[ParamSpec] = Field(default_factory=list)
    secrets: list[GeneratedSecret] = Field(default_factory=list)
    secret_aliases: list[SecretAlias] = Field(default_factory=list)
    services: dict[str, ServiceSpec]
    expose: Exposure | None = None
    volumes: list[VolumeSpec] = Field(default_factory=list)
    resources: dict[str, PlanProfile]

    @model_validator(mode="after")
    def _consistent(self) -> TemplateMeta:
        eligible = PLAN_ORDER[PLAN_ORDER.index(self.plan_minimum) :]
        missing = [plan for plan in eligible if plan not in self.resources]
        if missing:
            raise ValueError(f"no resource profile for plan(s) {', '.join(missing)}")
        for plan, profile in self.resources.items():
            if plan not in PLAN_ORDER:
                raise ValueError(f"resources: unknown plan {plan}")
            if set(profile.services) != set(self.services):
                raise ValueError(
                    f"resources.{plan}: limits must cover exactly the services {sorted(self.services)}"
                )
        envs = [p.env for p in self.parameters if p.env] + [s.env for s in self.secrets]
        if len(envs) != len(set(envs)):
            raise ValueError("two parameters/secrets share an env name")
        secret_envs = {p.env for p in self.parameters if p.secret and p.env} | {s.env for s in self.secrets}
        params = {p.name for p in self.parameters}
        for alias in self.secret_aliases:
            if alias.source not in secret_envs:
                raise ValueError(
                    f"secret_aliases: {alias.env} copies {alias.source}, which is no secret's env"
                )
            if alias.env in envs:
                raise ValueError(f"secret_aliases: {alias.env} is already a parameter's or secret's env")
            if not set(alias.when) <= params:
                unknown = sorted(set(alias.when) - params)
                raise ValueError(f"secret_aliases: {alias.env} depends on unknown parameters {unknown}")
        names = [p.name for p in self.parameters]
        if len(names) != len(set(names)):
            raise ValueError("two parameters share a name")
        if self.expose and self.expose.service not in self.services:
            raise ValueError(f"expose.service {self.expose.service} is not a service")
        if self.expose and self.services[self.expose.service].optional:
            raise ValueError(f"expose.service {self.expose.service} is optional; it must always run")
        for volume in self.volumes:
            if volume.service not in self.services:
                raise ValueError(f"volume {volume.name}: service {volume.service} is not a service")
        if self.stateful != bool(self.volumes):
            raise ValueError("stateful must be true exactly when the template declares volumes")
        return self


class Template:
    """One template: its validated metadata and where its files are."""

    def __init__(self, directory: Path, meta: TemplateMeta) -> None:
        self.directory = directory
        self.meta = meta

    @property
    def name(self) -> str:
        return self.meta.name

    @cached_property
    def compose_source(self) -> str:
        return (self.directory / "compose.yml.j2").read_text()

    @property
    def readme(self) -> str | None:
        path = self.directory / "README.md"
        return path.read_text() if path.exists() else None

    def profile(self, plan: str) -> PlanProfile:
        """Resource profile for ``plan``; InvalidInput if the template is not offered on it."""
        if plan not in self.meta.resources:
            raise InvalidInput(
                "plan",
                f"template {self.name} has no profile for plan {plan}",
                advice="see cfa templates show",
            )
        return self.meta.resources[plan]

    def param(self, name: str) -> ParamSpec | None:
        return next((p for p in self.meta.parameters if p.name == name), None)

    def service_variables(self, public: dict[str, Any], secrets: dict[str, str]) -> dict[str, str]:
        """The secret variables Coolify gets for a stack: its secrets plus the aliases its parameters
        select (the first alias of a name whose ``when`` matches)."""
        values = dict(secrets)
        for alias in self.meta.secret_aliases:
            matches = all(str(public.get(name)) == value for name, value in alias.when.items())
            if matches and alias.env not in values and alias.source in secrets:
                values[alias.env] = secrets[alias.source]
        return values


class Catalog:
    def __init__(self, templates: dict[str, Template]) -> None:
        self._templates = templates

    def names(self) -> list[str]:
        return sorted(self._templates)

    def get(self, name: object) -> Template:
        if not isinstance(name, str) or name not in self._templates:
            hint = did_you_mean(name, self.names()) if isinstance(name, str) else ""
            raise NotFoundError(
                f"unknown template {name!r}",
                advice=f"{hint}available templates: {', '.join(self.names()) or 'none'}",
            )
        return self._templates[name]

    def __iter__(self) -> Any:
        return iter(self._templates[name] for name in self.names())


def load_template(directory: Path) -> Template:
    meta_path = directory / "template.yaml"
    try:
        raw = yaml.safe_load(meta_path.read_text())
        meta = TemplateMeta.model_validate(raw)
    except (OSError, yaml.YAMLError) as err:
        raise TemplateError(directory.name, [f"cannot read {meta_path.name}: {err}"]) from err
    except ValidationError as err:
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()]
        raise TemplateError(directory.name, problems) from err
    if meta.name != directory.name:
        raise TemplateError(directory.name, [f"template.yaml says name {meta.name!r}, the folder differs"])
    if not (directory / "compose.yml.j2").is_file():
        raise TemplateError(meta.name, ["compose.yml.j2 is missing"])
    return Template(directory, meta)


def load_catalog(templates_dir: Path) -> Catalog:
    """Every ``templates/<name>/`` that has a ``template.yaml``."""
    templates = {}
    if templates_dir.is_dir():
        for directory in sorted(templates_dir.iterdir()):
            if (directory / "template.yaml").is_file():
                template = load_template(directory)
                templates[template.name] = template
    return Catalog(templates)
