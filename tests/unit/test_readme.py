"""The README's quick start and configuration table stay in step with the code."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from streamapp.cli import build_parser
from streamapp.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_first_commands_are_make_run_and_make_test() -> None:
    commands = re.findall(r"^make (\w+)", README.split("```")[1], flags=re.M)
    assert commands == ["run", "test"]


def test_every_setting_has_a_row_with_its_default() -> None:
    for f in fields(Settings):
        default = f.default if f.default != "" else "(none)"
        assert f"| `{f.metadata['env']}` | `{default}` |" in README, f.metadata["env"]


def test_every_subcommand_is_documented() -> None:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name in sub.choices:  # type: ignore[union-attr]
        assert f"streamapp {name}" in README, name
