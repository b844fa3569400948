"""The README stays true: its configuration table is the Settings model, its commands are the real ones."""

from __future__ import annotations

import re

from functions.cli.main import build_parser
from shared.settings import REPO_ROOT
from shared.settings_doc import readme_section, table

README = (REPO_ROOT / "README.md").read_text()


def test_configuration_table_matches_the_settings_model() -> None:
    """Every setting is documented with its default (regenerate: python -m shared.settings_doc --write)."""
    assert readme_section(README) == table()


def test_ci_runs_the_readme_test_command() -> None:
    """.ci/run calls `make test`, the command the README gives."""
    assert "make test" in README
    assert re.search(r"^make test$", (REPO_ROOT / ".ci" / "run").read_text(), re.MULTILINE)


def test_documented_commands_exist() -> None:
    """Each `cfa <command>` in the README's command block is a real subcommand."""
    block = README.split("## The `cfa` command", 1)[1].split("###", 1)[0]
    documented = set(re.findall(r"^cfa ([a-z]+)", block, re.MULTILINE))
    parser = build_parser()
    choices = next(a for a in parser._actions if a.dest == "command").choices
    assert choices is not None
    assert documented <= set(choices)
    assert {"pb", "tenants", "provision", "status", "suspend", "delete", "templates", "doctor"} <= documented


def test_runbooks_named_in_docs_exist() -> None:
    """Every runbooks/*.md mentioned in the docs exists."""
    docs = README + "".join(p.read_text() for p in (REPO_ROOT / "docs").glob("*.md"))
    for name in set(re.findall(r"runbooks/([a-z-]+\.md)", docs)):
        assert (REPO_ROOT / "runbooks" / name).is_file(), name
