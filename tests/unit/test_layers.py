"""Dependencies point one way: no import circle in rfb/, lazy imports included
(``TYPE_CHECKING`` imports of types are not imports at run time, and are left out)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "rfb"


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for n in ast.walk(node)}
    return skip


def import_graph() -> dict[str, set[str]]:
    """Module -> the rfb modules it imports anywhere in its body (functions too)."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        skip = _type_checking_nodes(tree)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:  # `from . import x` may name a submodule
                    sub = f"{target}.{alias.name}"
                    deps.add(sub if sub in modules else target)
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_lazy_imports() -> None:
    graph = import_graph()
    assert "rfb.recording" in graph["rfb.display"]  # imported inside Display.record()
    assert "rfb.server" not in graph["rfb.display"]  # only for type checking


def test_rfb_has_no_import_circle() -> None:
    assert cycles(import_graph()) == []


def test_a_circle_is_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_only_the_top_imports_the_api() -> None:
    """serve(), serve_server() and serve_in_thread() sit above Display and Server."""
    importers = {m for m, deps in import_graph().items() if "rfb.api" in deps}
    assert importers <= {"rfb", "rfb.cli"}


def test_rtp_imports_nothing_above_it() -> None:
    """rfb/rtp/ is bytes in, bytes out: no transport, no hub, no session; of the rest of
    rfb only the H.264 bitstream helpers (the packetiser splits NAL units with them)."""
    graph = import_graph()
    rtp = {m for m in graph if m == "rfb.rtp" or m.startswith("rfb.rtp.")}
    assert rtp == {"rfb.rtp", "rfb.rtp.h264", "rfb.rtp.header", "rfb.rtp.opus", "rfb.rtp.pacer",
                   "rfb.rtp.ulpfec"}  # fmt: skip
    assert {d for m in rtp for d in graph[m]} - rtp <= {"rfb.encoders.h264"}


def test_import_rfb_loads_no_heavy_optional_package() -> None:
    code = ("import sys, rfb; heavy = [m for m in sys.modules if m.split('.')[0] in "
            "('av', 'aiortc', 'aioice', 'cupy', 'PyNvVideoCodec', 'playwright')]; print(heavy)")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
