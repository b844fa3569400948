"""The configuration table of README.md, generated from the Settings model (a test keeps them equal).

.venv/bin/python -m shared.settings_doc --write   # refresh README.md's table
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import BaseModel, SecretStr

from shared.settings import REPO_ROOT, Settings

BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"


def _default(name: str) -> str:
    field = Settings.model_fields[name]
    value = field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]
    if value is None:
        return "-"
    if name == "templates_dir":
        return "`templates/` of the checkout"
    if name == "actor":
        return "`cli:<user>`"
    if name == "data_dir":
        return "`$XDG_DATA_HOME/cfa` (`~/.local/share/cfa`)"
    if isinstance(value, BaseModel):
        return f"`{value.model_dump_json()}`"
    if isinstance(value, dict):
        if not value:
            return "-"
        return "`" + ",".join(f"{k}={v}" for k, v in value.items()) + "`"
    return f"`{value}`"


def table() -> str:
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        secret = (
            " (secret)"
            if field.annotation is not None
            and SecretStr in getattr(field.annotation, "__args__", (field.annotation,))
            else ""
        )
        rows.append(f"| `CFA_{name.upper()}` | {_default(name)} | {field.description}{secret} |")
    return "\n".join(rows) + "\n"


def readme_section(readme: str) -> str:
    return readme.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def write(path: Path = REPO_ROOT / "README.md") -> None:
    text = path.read_text()
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{BEGIN}\n{table()}{END}{tail}")


if __name__ == "__main__":
    if "--write" in sys.argv:
        write()
    else:
        sys.stdout.write(table())
