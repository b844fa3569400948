"""The fake's model of Compose's `.env` reading and `${…}` interpolation agrees with Compose v2 itself.

Each case is a `.env` (as Coolify writes it) and one `environment` value referring to it; the model and
`docker compose config` must both refuse it, or give the container the same environment.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import pytest

from shared.compose_loader import ComposeLoader
from tests.fakes.compose_env import ComposeUpError, interpolate, parse_dotenv, service_environment

CASES: list[tuple[str, str]] = [
    ("K='plain'", "${K}"),
    ("K='has$dollar and ${X} and $$'", "${K}"),
    ("K='{{team.X}}'", "${K}"),
    ("K='back\\slash'", "${K}"),
    ("K='x\\'y'", "${K}"),
    ("K='ends\\'", "${K}"),
    ("K='it's'", "${K}"),
    ("K='a'B=injected'", "${B}"),
    ("K='multi\nline'", "${K}"),
    ("K=' lead and trail '", "${K}"),
    ('OTHER=other\nK={"a":"$OTHER"} #c', "${K}"),
    ("OTHER=other\nK=unquoted $OTHER and $$ and $5 #comment", "${K}"),
    ("K=back\\\\s \\' \\\" x", "${K}"),
    ('OTHER=o\nK="dq $OTHER \\n x"', "${K}"),
    ("K=", "${K:?}"),
    ("K=''", "${K:?}"),
    ("K='v'", "${NOPE:?}"),
    ("K='v'", "${NOPE}"),
    ("K='v'", "${NOPE:-default}"),
    ("K='v'", "${K:+alt}"),
    ("K='v'", "cost $5, end $"),
    ("K='v'", "a $$ b $$SERVICE_X"),
    ("K='v'", "x${K}y$K"),
    ("K='v'", "${"),
    ("K='v'", "${K"),
    ("K='v'", "{{team.X}}"),
    ("K=${NOPE:?}", "x"),
]


def run_compose(binary: Path, dotenv: str, value: str) -> dict[str, str] | str:
    """The container environment Compose computes, or its error text."""
    with tempfile.TemporaryDirectory(prefix="cfa-compose-env-") as directory:
        root = Path(directory)
        (root / ".env").write_text(dotenv + "\n")
        compose = {
            "services": {"s": {"image": "busybox:1", "env_file": [".env"], "environment": {"R": value}}}
        }
        (root / "compose.yml").write_text(json.dumps(compose))
        command = [str(binary), "--project-directory", directory, "-f", str(root / "compose.yml")]
        done = subprocess.run(
            [*command, "-p", "t", "config", "--format", "json"],
            capture_output=True,
            text=True,
            env={"HOME": directory},
            timeout=60,
            check=False,
        )
    if done.returncode != 0:
        return "error"
    environment = json.loads(done.stdout)["services"]["s"]["environment"]
    # `config` prints a literal $ as $$ so that its output loads again.
    return {k: v.replace("$$", "$") for k, v in environment.items() if v is not None}


def run_model(dotenv: str, value: str) -> dict[str, str] | str:
    try:
        variables = parse_dotenv(dotenv + "\n")
        return service_environment({"env_file": [".env"], "environment": {"R": value}}, variables, "s")
    except ComposeUpError:
        return "error"


@pytest.mark.parametrize(("dotenv", "value"), CASES, ids=[f"{i}" for i in range(len(CASES))])
def test_the_model_agrees_with_compose(compose_loader: ComposeLoader, dotenv: str, value: str) -> None:
    """Same verdict, same environment: the fake's Compose model is what Compose v2 does."""
    assert run_model(dotenv, value) == run_compose(compose_loader.binary, dotenv, value)


def test_a_quote_in_a_literal_value_breaks_the_whole_file() -> None:
    """Coolify single-quotes literal values without escaping: one `'` makes Compose refuse every line."""
    with pytest.raises(ComposeUpError, match="unexpected character"):
        parse_dotenv("A='fine'\nK='it's'\nZ='fine'\n")


def test_interpolation_never_rescans_a_substituted_value() -> None:
    """A `$` inside a variable's value stays: references are resolved once."""
    assert interpolate("${K}", {"K": "a$B${C}", "B": "no", "C": "no"}) == "a$B${C}"
