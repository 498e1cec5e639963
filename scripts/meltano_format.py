"""Rewrite `meltano.yml` and `meltano/*.meltano.yml` in the layout Meltano itself writes.

`meltano config set` (Meltano 4.4) loads the whole project and dumps every file of
`include_paths` back in Meltano's YAML layout; files kept in that layout come back unchanged
except for the value set. Run this after editing the files by hand (`./run python
scripts/meltano_format.py`); `tests/pipelines/test_config_set.py` checks that nothing is left to
rewrite. Comments are kept. An optional argument names another project directory.
"""

from __future__ import annotations

import sys
from pathlib import Path

from meltano.core.project import Project

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT
    project = Project.find(root, activate=False)
    with project.meltano_update():
        pass  # the round trip `meltano config set` makes, without a change


if __name__ == "__main__":
    main()
