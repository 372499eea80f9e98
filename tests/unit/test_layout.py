"""The package's shape, checked: imports point down the flow (SPEC's records -> codec -> engine
-> the ways of driving them), never up and never in a circle; modules stay small enough to
read in one sitting (≲ 300 lines; Rust files 400)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from consumer.paths import REPO

PACKAGE = REPO / "consumer"
# The parts of `consumer` and their layers: a module imports its own part and the parts of
# lower layers only; parts in one layer know nothing of each other.
BASE = {
    "__init__", "_native", "errors", "settings", "logs", "paths", "cachedir", "progress",
    "subcommands",
}  # fmt: skip
LAYERS = {
    "base": 0,  # settings, errors, logging, paths, caches (the modules of BASE)
    "local": 1,  # real Kafka, a registry, Prometheus, a kube-apiserver, run here (demo, tests)
    "records": 1,  # the schemas and the JSON form
    "codec": 2,  # bytes <-> records
    "engine": 3,  # the decision engine's facade
    "stream": 4,  # the service
    "replay": 5, "offline": 5,  # replay reuses the service's loop; offline needs no Kafka
    "demo": 6,  # the demo drives the service
    "entry": 7,  # cli, __main__
}  # fmt: skip
MAX_PY_LINES = 300
MAX_RUST_LINES = 400


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


def imports(path: Path) -> set[str]:
    """The `consumer` modules `path` imports (at any depth: lazy imports count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "consumer":  # `from consumer import x`: x is a module or a name
                found |= {f"consumer.{a.name}" for a in node.names if a.name != "__version__"}
            elif node.module.startswith("consumer.") and node.module != "consumer.__version__":
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("consumer.")}
    return found


def part(module: str) -> str:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    if top in BASE:
        return "base"
    return "entry" if top in {"cli", "__main__"} else top


def test_every_part_has_a_layer() -> None:
    assert {part(name) for name, _ in modules()} <= set(LAYERS)


def test_imports_point_down_the_flow() -> None:
    upward = []
    for name, path in modules():
        for target in imports(path):
            here, there = part(name), part(target)
            if here != there and LAYERS[there] >= LAYERS[here]:
                upward.append(f"{name} -> {target}")
    assert not upward, "imports up or across the flow:\n" + "\n".join(upward)


def test_the_import_graph_has_no_cycle() -> None:
    known = dict(modules())
    graph = {name: {t for t in imports(path) if t in known} for name, path in known.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path, node, nxt]
            if nxt not in state and (cycle := visit(nxt, [*path, node])):
                return cycle
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node, [])):
            raise AssertionError("import cycle: " + " -> ".join(cycle))


def test_modules_are_small() -> None:
    lines = {path: len(path.read_text("utf-8").splitlines()) for _, path in modules()}
    rust = {p: len(p.read_text("utf-8").splitlines()) for p in (REPO / "native").rglob("*.rs")}
    too_long = [f"{p.relative_to(REPO)}: {n}" for p, n in lines.items() if n > MAX_PY_LINES]
    too_long += [f"{p.relative_to(REPO)}: {n}" for p, n in rust.items() if n > MAX_RUST_LINES]
    assert not too_long, "split these:\n" + "\n".join(too_long)
