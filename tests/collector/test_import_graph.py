"""The collector's modules import downward only: no import cycle, and no import hidden in a function
to dodge one. A cycle held together by function-level imports works until someone moves an import
up; then the collector no longer starts."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers.paths import REPO

COLLECTOR = REPO / "collector"

# (importing module, imported module) -> why the import is inside a function. Not for cycles.
FUNCTION_LEVEL_IMPORTS_ALLOWED: dict[tuple[str, str], str] = {
    **{("collector.cli", module): "each command loads only what it runs: `broker add-box` or `token create` "
                                  "need no FastAPI, uvicorn or ingest (about 1.3 s a start on the build machine)"
       for module in ("collector.app", "collector.auth", "collector.broker", "collector.db", "collector.ingest",
                      "collector.registry", "collector.releases", "collector.reports", "collector.reports.render",
                      "collector.satisfaction")},
    **{("collector.migrations.versions.0002_supervisor_rollups_and_users", module):
       "a migration reads the settings when it runs; migrations are history and are not edited"
       for module in ("collector.clock", "collector.settings")},
}


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def collector_imports(node: ast.stmt, package: str, modules: set[str]) -> list[str]:
    """The collector modules an import statement loads: `from collector.reports import render` loads
    collector.reports, and collector.reports.render where that is a module."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.split(".")[0] == "collector"]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        base = package.split(".")[: len(package.split(".")) - node.level + 1]
        module = ".".join([*base, *([node.module] if node.module else [])])
    else:
        module = node.module or ""
    if module.split(".")[0] != "collector":
        return []
    return [module, *(f"{module}.{alias.name}" for alias in node.names if f"{module}.{alias.name}" in modules)]


def walk(tree: ast.Module) -> tuple[list[ast.stmt], list[ast.stmt]]:
    """(imports run when the module is imported, imports inside a function)."""
    top: list[ast.stmt] = []
    inner: list[ast.stmt] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                (inner if in_function else top).append(child)
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return top, inner


def graph(root: Path = COLLECTOR) -> tuple[dict[str, set[str]], dict[tuple[str, str], int]]:
    """(module -> collector modules it imports at module level, (module, imported) -> line of an import
    made inside a function)."""
    edges: dict[str, set[str]] = {}
    inner_imports: dict[tuple[str, str], int] = {}
    modules = {module_name(path, root) for path in root.rglob("*.py")}
    for path in sorted(root.rglob("*.py")):
        name = module_name(path, root)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        top, inner = walk(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        edges[name] = {m for node in top for m in collector_imports(node, package, modules) if m != name}
        for node in inner:
            for imported in collector_imports(node, package, modules):
                inner_imports.setdefault((name, imported), node.lineno)
    return edges, inner_imports


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return found


def test_the_collector_has_no_import_cycle() -> None:
    edges, inner_imports = graph()
    assert "collector.store" in edges and "collector.rollups" in edges["collector.store"]  # the graph is read
    # A function-level import is an edge too: it runs, later, and a cycle through it is still a cycle.
    for importer, imported in inner_imports:
        edges[importer].add(imported)
    assert cycles(edges) == []


def test_no_collector_module_is_imported_inside_a_function_unless_listed_with_a_reason() -> None:
    _, inner_imports = graph()
    unlisted = {f"{importer} imports {imported} at line {line}" for (importer, imported), line in inner_imports.items()
                if (importer, imported) not in FUNCTION_LEVEL_IMPORTS_ALLOWED}
    assert unlisted == set()
    stale = set(FUNCTION_LEVEL_IMPORTS_ALLOWED) - set(inner_imports)
    assert stale == set(), "listed but no longer imported inside a function: take them off the list"


def test_a_cycle_is_found() -> None:
    edges = {"collector.a": {"collector.b"}, "collector.b": set(), "collector.c": {"collector.a"}}
    assert cycles(edges) == []
    edges["collector.b"].add("collector.a")
    assert cycles(edges) == [["collector.a", "collector.b"]]


def test_no_route_module_imports_another() -> None:
    """A route module that needs another's helper means that helper is domain logic without a home."""
    edges, inner_imports = graph()
    routes = "collector.api.routes."
    crossing = sorted(f"{module} imports {imported}"
                      for module, imports in edges.items() if module.startswith(routes)
                      for imported in imports | {i for (m, i) in inner_imports if m == module}
                      if imported.startswith(routes))
    assert "collector.api.routes.reports" in edges  # the route modules are read
    assert crossing == []


def test_the_domain_imports_no_web_framework() -> None:
    """Queries, figures, reports and the rest are HTTP-free: they raise ValueError, routes answer 422."""
    web = {"fastapi", "starlette", "uvicorn"}
    found = []
    for path in sorted(COLLECTOR.rglob("*.py")):
        name = module_name(path, COLLECTOR)
        if name.startswith("collector.api") or name in ("collector.app", "collector.cli"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            roots = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            found += [f"{name} imports {root}" for root in roots if root.split(".")[0] in web]
    assert found == []
