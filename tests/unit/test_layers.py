"""The import structure docs/architecture.md draws: packages, the server's layers, no cycles.

Read from the source with ``ast``, every import counts, those made for type checking only too:
an import that runs from a lower layer to a higher one, or closes a cycle, fails here with the
edge that does it. A new server module must be given its layer in LAYERS (and in the table of
docs/architecture.md).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hubbub

ROOT = Path(hubbub.__file__).parent

# Which packages of hubbub each package may import (besides itself and hubbub/__init__.py).
PACKAGES = {
    "protocol": set(),
    "store": {"protocol"},
    "server": {"protocol", "store"},
    "client": {"protocol"},
    "gui": {"client", "protocol"},
}

# The server's layers, from the bottom up: a module may import its own layer and those below.
LAYERS: dict[str, list[str]] = {
    "values and rules": [
        "caps",
        "clock",
        "config",
        "limits",
        "playback",
        "replies",
        "stats",
        "throttle",
        "tls",
        "writer",
    ],
    "state": ["world", "outbox", "remote", "answering", "client_state", "session"],
    "publish": ["delivery", "committed"],
    "services": [
        "history",
        "accounts",
        "directs",
        "bans",
        "registry",
        "monitor",
        "services",
        "isupport",
        "watch",
        "endings",
    ],
    "handlers": ["handlers"],
    "wire": ["intake", "connection", "doors", "websocket", "web", "tutorial"],
    "app": ["app", "bus", "cluster", "handover", "metrics", "startup", "serve_command"],
}
LAYER_OF = {module: rank for rank, modules in enumerate(LAYERS.values()) for module in modules}
LAYER_NAMES = list(LAYERS)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The hubbub modules ``name`` imports, anywhere in it."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names
            ]
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as a list of modules, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def _server_layer(module: str) -> int:
    rest = module.removeprefix("hubbub.server.")
    key = "handlers" if rest == "handlers" or rest.startswith("handlers.") else rest
    if key not in LAYER_OF:
        pytest.fail(f"{module} has no layer: give it one in LAYERS and in docs/architecture.md")
    return LAYER_OF[key]


def test_the_graph_sees_the_imports_it_should():
    graph = _graph()
    # Imports for type checking only and relative ones, known to be there: the reader is not blind.
    assert "hubbub.server.session" in graph["hubbub.server.handlers.channels"]
    assert "hubbub.server.world" in graph["hubbub.server.session"]
    assert "hubbub.server.handlers.context" in graph["hubbub.server.handlers.channels"]
    assert "hubbub.protocol" in graph["hubbub.server.session"]


def test_there_is_no_import_cycle():
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_packages_import_only_what_they_may():
    wrong = []
    for module, targets in _graph().items():
        parts = module.split(".")
        if len(parts) < 2 or parts[1] not in PACKAGES:
            continue
        allowed = PACKAGES[parts[1]] | {parts[1]}
        for target in targets:
            tparts = target.split(".")
            if len(tparts) > 1 and tparts[1] not in allowed:
                wrong.append(f"{module} -> {target}")
    assert not wrong, wrong


def test_no_server_module_imports_a_higher_layer():
    upward = []
    for module, targets in _graph().items():
        if not module.startswith("hubbub.server.") or module == "hubbub.server":
            continue
        rank = _server_layer(module)
        for target in targets:
            if target.startswith("hubbub.server.") and _server_layer(target) > rank:
                upward.append(
                    f"{module} ({LAYER_NAMES[rank]}) -> {target} ({LAYER_NAMES[_server_layer(target)]})"
                )
    assert not upward, upward


def test_every_layer_module_exists():
    server = ROOT / "server"
    for modules in LAYERS.values():
        for module in modules:
            assert (server / f"{module}.py").exists() or (server / module).is_dir(), module


def test_server_modules_import_at_the_top():
    """No import inside a function to dodge a cycle (``hubbub serve`` loads its parts lazily)."""
    late = []
    for path in sorted((ROOT / "server").rglob("*.py")):
        if path.name.endswith("_command.py"):
            continue
        for func in ast.walk(ast.parse(path.read_text())):
            if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                for node in ast.walk(func):
                    if isinstance(node, ast.ImportFrom) and (
                        node.level or (node.module or "").startswith("hubbub")
                    ):
                        late.append(f"{path.name}: {func.name}")
    assert not late, late
