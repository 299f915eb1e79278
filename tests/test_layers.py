"""The house's walls: data flows one way (protocol → collector / sdk / client → TUI state → widgets), and
no module imports one from a layer above it. Read from the source with ``ast``, so nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "agentwatch"

#: The foundation: the wire format and helpers that import nothing of the project but each other.
BASE = {"protocol", "alertwire", "retry", "pricing", "textsafe", "sketchwire"}

#: What each part may import from the project (besides itself). Entry points (cli, demo, status, config,
#: __main__) wire the parts together and may import any of them.
ALLOWED: dict[str, set[str]] = {
    "protocol": {"alertwire"},
    "alertwire": set(),
    "retry": set(),
    "pricing": {"protocol"},
    "textsafe": set(),
    "sketchwire": set(),
    "collector": BASE,
    "sdk": BASE,
    "client": BASE,
    "simulator": BASE,
    "tui": BASE | {"client", "config"},
}

#: Modules of the viewer that hold plain state and decoding: they must stay free of Textual and widgets.
TEXTUAL_FREE = {
    "tui/state.py",
    "tui/dirty.py",
    "tui/feed.py",
    "tui/formatting.py",
    "tui/linefields.py",
    "tui/selfcost.py",
}


def project_imports(path: Path, source: str | None = None) -> set[str]:
    """The dotted agentwatch modules ``path`` (or ``source`` as if it were at ``path``) imports, absolute or
    relative, anywhere in the file."""
    tree = ast.parse(path.read_text() if source is None else source, str(path))
    package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "agentwatch" or name.startswith("agentwatch.")}


def part_of(dotted: str) -> str:
    return dotted.split(".")[1] if dotted.count(".") else ""


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_layer_above_its_own(path: Path) -> None:
    part = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    if part not in ALLOWED:
        return  # an entry point: cli, demo, status, config, __main__, __init__
    allowed = ALLOWED[part] | {part}
    imported = {part_of(name) for name in project_imports(path)} - {""}
    # ``from agentwatch.collector import ingest`` names both the package and the module: keep real modules.
    imported = {name for name in imported if (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").exists()}
    assert imported <= allowed, f"{path.relative_to(PACKAGE)} imports {sorted(imported - allowed)}"


@pytest.mark.parametrize("relative", sorted(TEXTUAL_FREE))
def test_the_viewers_state_and_decoding_do_not_import_textual_or_widgets(relative: str) -> None:
    path = PACKAGE / relative
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    assert not {name for name in names if name.split(".")[0] == "textual"}, relative
    widgets = {
        "agentwatch.tui.widgets",
        "agentwatch.tui.app",
        "agentwatch.tui.screens",
        "agentwatch.tui.alerts",
    }
    assert not names & widgets, f"{relative} imports {sorted(names & widgets)}"


def test_the_checker_sees_a_forbidden_import() -> None:
    """The walls are only as good as the import reader: it must see absolute, relative and nested imports."""
    module = PACKAGE / "collector" / "ingest.py"
    assert "agentwatch.protocol" in project_imports(module)
    source = "from ..tui import widgets\n\ndef f():\n    import agentwatch.sdk\n"
    found = project_imports(module, source)
    assert {"agentwatch.tui", "agentwatch.tui.widgets", "agentwatch.sdk"} <= found
