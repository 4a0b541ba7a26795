"""The layout's rules, read from the source with `ast`: no import circle among bot/, handlers/
and config/; config/ stays pure (ARCHITECTURE.md: it imports nothing from bot/ or handlers/); and
the engine in bot/ imports no handler module at module level.

A module-level import is one that runs when the module is imported, or that mypy follows: those
under `if TYPE_CHECKING:` count too, since a circle of types is still a circle a reader has to
untangle. An import inside a function is the deliberate lazy shape (the CLI imports a command's
modules when it runs; psycopg is imported only for a postgresql:// URL) and is not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "handlers", "config")


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(tree: ast.Module, module: str, is_package: bool, *, in_functions: bool = False) -> set[str]:
    """Every dotted name an import statement of the module may load: `from a.b import c` gives
    `a.b` and `a.b.c` (c may be a submodule). Relative imports are resolved against `module`."""
    found: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for statement in statements:
            if isinstance(statement, ast.Import):
                found.update(alias.name for alias in statement.names)
            elif isinstance(statement, ast.ImportFrom):
                source = statement.module or ""
                if statement.level:
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[: len(base) - statement.level + 1]
                    source = ".".join([*base, *([statement.module] if statement.module else [])])
                found.add(source)
                found.update(f"{source}.{alias.name}" for alias in statement.names)
            elif isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if in_functions:
                    visit(statement.body)
            else:  # if (TYPE_CHECKING too), try, with, class bodies: all run or are read at import
                for field in ("body", "orelse", "finalbody", "handlers"):
                    for child in getattr(statement, field, ()):
                        visit(child.body if isinstance(child, ast.ExceptHandler) else [child])

    visit(tree.body)
    return found


def import_graph(root: Path, packages: tuple[str, ...] = PACKAGES, *, in_functions: bool = False) -> dict[str, set[str]]:
    """module -> the modules of `packages` it imports (a dotted import loads its parents too)."""
    paths = {module_name(root, path): path for package in packages for path in sorted((root / package).rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        edges = set()
        tree = ast.parse(path.read_text(), filename=str(path))
        for name in imported_names(tree, module, path.name == "__init__.py", in_functions=in_functions):
            parts = name.split(".")
            for end in range(1, len(parts) + 1):
                target = ".".join(parts[:end])
                # a module's own packages are loaded before it anyway: not an edge
                if target in paths and target != module and not module.startswith(target + "."):
                    edges.add(target)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return sorted(found)


def describe(graph: dict[str, set[str]], circle: list[str]) -> str:
    members = set(circle)
    return "; ".join(f"{m} -> {', '.join(sorted(graph[m] & members))}" for m in circle)


def test_no_module_level_import_circle() -> None:
    graph = import_graph(ROOT)
    assert {"bot.engine.dispatch", "bot.http.api"} <= graph["bot.app"]  # the scan reads the real tree
    assert "bot.engine.context" in graph["handlers.claims"]
    found = cycles(graph)
    assert not found, "import circles (move the shared piece to where both can import it):\n" + "\n".join(
        describe(graph, circle) for circle in found)


def test_config_imports_nothing_from_bot_or_handlers() -> None:
    graph = import_graph(ROOT, in_functions=True)  # not even lazily: config/ is the pure layer
    leaks = {module: sorted(t for t in targets if not t.startswith("config"))
             for module, targets in graph.items() if module.startswith("config")}
    assert graph.keys() >= {"config.settings", "config.repo", "config.loader"}
    assert not {m: t for m, t in leaks.items() if t}, leaks


def test_the_engine_imports_no_handler_at_module_level() -> None:
    """bot/ runs handlers without knowing them: bot/app.py names handler modules as strings
    (BUILTIN_HANDLERS, BUILTIN_ROUTES...), and a CLI command imports its handler when it runs."""
    graph = import_graph(ROOT)
    leaks = {module: sorted(t for t in targets if t.startswith("handlers"))
             for module, targets in graph.items() if module.startswith("bot")}
    assert not {m: t for m, t in leaks.items() if t}, leaks


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_scan_finds_circles_through_type_checking_but_not_through_functions(tmp_path: Path) -> None:
    write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg import b\n",
        "pkg/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import Thing\n",
        "pkg/c.py": "from .d import x\n",
        "pkg/d.py": "def later():\n    from pkg import c\n",
        "pkg/sub/__init__.py": "from ..sub import e\n",
        "pkg/sub/e.py": "import pkg.sub\n",
    })
    graph = import_graph(tmp_path, ("pkg",))
    assert cycles(graph) == [["pkg.a", "pkg.b"]]
    assert graph["pkg.c"] == {"pkg.d"}  # a relative import, resolved
    assert graph["pkg.sub.e"] == set()  # its own package is loaded first anyway
    assert cycles(import_graph(tmp_path, ("pkg",), in_functions=True)) == [["pkg.a", "pkg.b"], ["pkg.c", "pkg.d"]]
