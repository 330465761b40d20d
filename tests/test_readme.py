"""The README's two fresh-machine commands stay true: CI runs the same test command."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _commands():
    return [line.strip() for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("    ")]


def test_readme_starts_with_demo_and_test_commands():
    cmds = _commands()
    assert cmds[0] == "pip install . && qeltrix demo"
    assert cmds[1].startswith("pip install '.[test]'") and cmds[1].endswith("pytest")


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _commands()[1] in [line.strip() for line in ci if not line.lstrip().startswith("#")]

