"""Regenerate the settings table of each plugin's README from `<plugin> --about --format=markdown`.

The table sits between two markers in `<plugin>/README.md`; `tests/test_readme.py` fails when it
differs from what the plugin prints (a setting added, renamed or described anew), and running
`./run python scripts/plugin_docs.py` brings it back in line. `--check` only reports.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ("tap-planful", "tap-plansource", "target-planhat")


def begin_marker(plugin: str) -> str:
    return (
        f"<!-- BEGIN settings: `{plugin} --about --format=markdown`, "
        "regenerate with `./run python scripts/plugin_docs.py` -->"
    )


END_MARKER = "<!-- END settings -->"


def settings_table(plugin: str) -> str:
    """The `Settings` table the plugin prints about itself (the SDK's markdown)."""
    executable = Path(sys.executable).with_name(plugin)
    about = subprocess.run(
        [str(executable), "--about", "--format=markdown"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    lines = about.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| Setting "))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return "\n".join(lines[start:end])


def documented_table(plugin: str, readme: str) -> str:
    """The table between the markers of `readme` (ValueError when the markers are missing)."""
    begin = begin_marker(plugin)
    start = readme.index(begin) + len(begin)
    return readme[start : readme.index(END_MARKER, start)].strip("\n")


def with_table(plugin: str, readme: str, table: str) -> str:
    begin = begin_marker(plugin)
    start = readme.index(begin) + len(begin)
    end = readme.index(END_MARKER, start)
    return f"{readme[:start]}\n{table}\n{readme[end:]}"


def main() -> int:
    check = "--check" in sys.argv[1:]
    stale = []
    for plugin in PLUGINS:
        path = ROOT / plugin / "README.md"
        readme = path.read_text()
        table = settings_table(plugin)
        if documented_table(plugin, readme) == table:
            continue
        stale.append(plugin)
        if not check:
            path.write_text(with_table(plugin, readme, table))
    verb = "out of date" if check else "regenerated"
    for plugin in stale:
        print(f"{plugin}/README.md: settings table {verb}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
