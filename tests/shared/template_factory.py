"""Build small, policy-compliant templates in a temp dir for mechanism tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from shared.catalog import Template, load_template

BASE_META: dict[str, Any] = {
    "name": "probe",
    "title": "Probe",
    "description": "A template used by the tests.",
    "version": "1",
    "plan_minimum": "starter",
    "default_stack_name": "probe",
    "stateful": False,
    "parameters": [
        {"name": "greeting", "type": "string", "description": "a line", "default": "hello"},
        {"name": "prompt", "type": "text", "description": "many lines", "default": "be nice"},
        {"name": "count", "type": "integer", "description": "n", "default": 3, "minimum": 0, "maximum": 9},
        {"name": "ids", "type": "integer_list", "description": "ids", "default": []},
        {"name": "token", "type": "string", "description": "a secret", "secret": True, "env": "PROBE_TOKEN"},
    ],
    "secrets": [{"env": "PROBE_KEY", "kind": "token", "description": "generated"}],
    "services": {"app": {"role": "main"}},
    "resources": {
        plan: {"services": {"app": {"cpus": 0.25, "memory": "64M", "pids": 32}}}
        for plan in ("starter", "team", "business", "sovereign")
    },
}

COMPLIANT_COMPOSE = """\
services:
  app:
    image: registry.example.com/probe:1.0.0
    user: "1000:1000"
    cap_drop: [ALL]
    security_opt: ["no-new-privileges:true"]
    cpus: {{ limits.app.cpus }}
    mem_limit: {{ limits.app.memory }}
    pids_limit: {{ limits.app.pids }}
    logging:
      driver: json-file
      options: {max-size: "10m", max-file: "3"}
    environment:
      GREETING: {{ params.greeting }}
      PROMPT: {{ params.prompt }}
      COUNT: {{ params.count | string }}
      IDS: {{ params.ids | join(",") }}
      PROBE_TOKEN: ${PROBE_TOKEN}
    healthcheck:
      test: ["CMD", "true"]
      interval: 30s
"""


def make_template(
    root: Path, *, compose: str = COMPLIANT_COMPOSE, meta: dict[str, Any] | None = None, name: str = "probe"
) -> Template:
    directory = root / name
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "template.yaml").write_text(yaml.safe_dump({**BASE_META, "name": name, **(meta or {})}))
    (directory / "compose.yml.j2").write_text(compose)
    return load_template(directory)
