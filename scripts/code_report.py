"""What the plugins' code costs to change, measured: lines per package, import cycles among each
package's modules, and the private singer-sdk names each package overrides or calls.

    python scripts/code_report.py [--root DIR]

`--root` reads another checkout (a worktree of an older commit), so one command gives the
figures before and after a change. Import cycles are found over the modules' top-level and
nested `import` / `from … import` statements, once for those that run and once with the
type-checking-only ones too (a module that names another's types depends on it). A private
singer-sdk name is one starting with a single underscore that a class of singer-sdk defines:
overridden (`def _name` in a class of ours) or used (`._name` read).
"""

from __future__ import annotations

import argparse
import ast
import inspect
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {
    "connector-core": "planful_plansource_planhat_core",
    "tap-planful": "tap_planful",
    "tap-plansource": "tap_plansource",
    "target-planhat": "target_planhat",
}


def sdk_private_names() -> set[str]:
    """Single-underscore names defined on singer-sdk's classes (methods and attributes)."""
    import singer_sdk  # noqa: PLC0415 - only this report needs it
    from singer_sdk import Stream, Tap, Target  # noqa: PLC0415
    from singer_sdk.sinks import BatchSink, RecordSink, Sink  # noqa: PLC0415
    from singer_sdk.streams import RESTStream  # noqa: PLC0415

    names: set[str] = set()
    for cls in (Tap, Target, Stream, RESTStream, Sink, RecordSink, BatchSink):
        for klass in inspect.getmro(cls):
            if not klass.__module__.startswith(singer_sdk.__name__):
                continue
            names |= {n for n in vars(klass) if n.startswith("_") and not n.startswith("__")}
            source = inspect.getsource(klass)
            names |= {
                node.attr
                for node in ast.walk(ast.parse(inspect.cleandoc("\n" + source)))
                if isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name)
                and node.value.id == "self"
            }
    return names


def _imports(tree: ast.Module, *, typing_only: bool) -> list[ast.Import | ast.ImportFrom]:
    """Import statements that run, and with `typing_only` those under `if TYPE_CHECKING:` (a
    dependency too: the module names the other's types)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if (
            not typing_only
            and isinstance(node, ast.If)
            and "TYPE_CHECKING" in ast.unparse(node.test)
        ):
            skipped |= {id(inner) for inner in ast.walk(node)}
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in skipped
    ]


def module_imports(package_dir: Path, package: str, *, typing_only: bool) -> dict[str, set[str]]:
    """Each module of the package and the modules of the same package it imports."""
    modules = {path.stem: path for path in package_dir.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in _imports(ast.parse(path.read_text()), typing_only=typing_only):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from . import x / from .x import y
                    base = f"{package}.{base}" if base else package
                if base == package:
                    found |= {a.name for a in node.names if a.name in modules}
                elif base.startswith(package + "."):
                    found.add(base.split(".")[1])
            else:
                found |= {
                    a.name.split(".")[1] for a in node.names if a.name.startswith(package + ".")
                }
        graph[name] = found - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def private_sdk_use(package_dir: Path, private: set[str]) -> tuple[set[str], set[str]]:
    """Private singer-sdk names the package's classes override, and those it reads."""
    overridden: set[str] = set()
    used: set[str] = set()
    for path in package_dir.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                overridden |= {
                    item.name
                    for item in node.body
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
                    and item.name in private
                }
            elif isinstance(node, ast.Attribute) and node.attr in private:
                used.add(node.attr)
    return overridden, used - overridden


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args()
    private = sdk_private_names()
    print(f"{'package':16} {'lines':>6} {'modules':>7}  import cycles (runtime | with typing)")
    details = []
    for folder, package in PACKAGES.items():
        package_dir = args.root / folder / package
        files = sorted(package_dir.glob("*.py"))
        lines = sum(len(f.read_text().splitlines()) for f in files)
        shown = [
            "; ".join(
                " <-> ".join(c)
                for c in cycles(module_imports(package_dir, package, typing_only=typing))
            )
            or "none"
            for typing in (False, True)
        ]
        print(f"{folder:16} {lines:6} {len(files):7}  {shown[0]} | {shown[1]}")
        overridden, used = private_sdk_use(package_dir, private)
        details.append((folder, overridden, used))
    print("\nprivate singer-sdk names (overridden | only read or called)")
    for folder, overridden, used in details:
        print(f"{folder:16} {len(overridden)} overridden: {', '.join(sorted(overridden)) or '-'}")
        print(f"{'':16} {len(used)} used: {', '.join(sorted(used)) or '-'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
