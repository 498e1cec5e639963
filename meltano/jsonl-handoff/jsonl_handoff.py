"""A set of JSON lines files marked complete by a manifest written last.

`target-jsonl-handoff` is the loader `target-jsonl` (same arguments, Singer messages on stdin):
it notes when its run starts (`.target-jsonl-run.json` in the destination), then runs
target-jsonl, which writes one `<stream>-<run start>.jsonl` file per stream.

`jsonl-manifest write <destination>` runs as the job's next task, which Meltano starts only when
the tap and the target both succeeded (the target alone cannot know: Meltano ends its input the
same way when the tap fails). It writes `manifest-<run start>.json`: each file of that run with
its row count and SHA-256, to a temporary name then renamed. A set of files without a manifest
is incomplete (a run that failed or was stopped) and is not to be taken.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

STAMP_FORMAT = "%Y%m%dT%H%M%S"
"""target-jsonl's file name stamp: its start in local time, to the second."""
FILE_NAME = re.compile(r"(?P<stream>.+)-(?P<stamp>\d{8}T\d{6})\.jsonl")


def destination(config_path: str | None) -> Path:
    config = json.loads(Path(config_path).read_text()) if config_path else {}
    return Path(config.get("destination_path") or ".")


def run_files(folder: Path, started: str) -> dict[str, list[Path]]:
    """The files target-jsonl wrote since `started`, by stamp (one stamp per run)."""
    found: dict[str, list[Path]] = {}
    for path in sorted(folder.glob("*.jsonl")):
        match = FILE_NAME.fullmatch(path.name)
        if match and match["stamp"] >= started:
            found.setdefault(match["stamp"], []).append(path)
    return found


def described(path: Path) -> dict[str, Any]:
    digest, rows = hashlib.sha256(), 0
    with path.open("rb") as data:
        for line in data:
            digest.update(line)
            rows += 1
    match = FILE_NAME.fullmatch(path.name)
    return {
        "file": path.name,
        "stream": match["stream"] if match else path.stem,
        "rows": rows,
        "sha256": digest.hexdigest(),
    }


def write_manifest(folder: Path, started: str) -> Path:
    """`manifest-<stamp>.json` for the files of this run (none when it read no record)."""
    runs = run_files(folder, started)
    stamp = max(runs) if runs else started
    files = [described(path) for path in runs.get(stamp, [])]
    content = {
        "complete": True,
        "run_started": stamp,
        "written_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "files": files,
        "rows": sum(f["rows"] for f in files),
    }
    final = folder / f"manifest-{stamp}.json"
    _write_atomically(final, json.dumps(content, indent=2) + "\n")
    return final


RUN_NOTE = ".target-jsonl-run.json"


def target() -> None:
    """The loader: target-jsonl, its start noted first."""
    arguments = sys.argv[1:]
    if "--config" in arguments:
        folder = destination(arguments[arguments.index("--config") + 1])
        folder.mkdir(parents=True, exist_ok=True)
        started = datetime.datetime.now().strftime(STAMP_FORMAT)  # local time, as target-jsonl
        _write_atomically(folder / RUN_NOTE, json.dumps({"started": started}))
    jsonl = Path(sys.executable).with_name("target-jsonl")  # installed beside this script
    sys.exit(subprocess.call([str(jsonl), *arguments]))  # noqa: S603 - Meltano's arguments


def manifest() -> None:
    """`jsonl-manifest write <destination>`: the manifest of the run the loader noted."""
    if len(sys.argv) != 3 or sys.argv[1] != "write":
        sys.exit("usage: jsonl-manifest write <destination folder>")
    folder = Path(sys.argv[2])
    note = folder / RUN_NOTE
    if not note.exists():
        sys.exit(f"jsonl-manifest: no run of target-jsonl noted in {folder}: nothing to mark")
    written = write_manifest(folder, json.loads(note.read_text())["started"])
    note.unlink()
    print(f"jsonl-manifest: complete set marked by {written}", file=sys.stderr)


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    os.replace(partial, path)
