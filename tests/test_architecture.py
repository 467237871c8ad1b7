"""Layers point one way: every import in src/breastlab obeys the layer table of docs/architecture.md.

The imports are read statically (ast) from the source: module-level imports, imports inside
functions, and references by string (a constant or f-string prefix naming a breastlab module,
as ``importlib.import_module("breastlab.x")`` or a table of module paths would hold).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "breastlab"
DOC = ROOT / "docs" / "architecture.md"
MODULE_PATH = re.compile(r"breastlab(?:\.[A-Za-z_]\w*)*")

#: Known edges that break the table, each with the reason it is still there. Keep it empty:
#: an entry is a debt, listed here so that it is seen and counted, never a relaxation of the rule.
EXCEPTIONS: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Layer:
    name: str
    prefixes: tuple[str, ...]
    may_import: frozenset[str]


def read_layers(doc: Path = DOC) -> list[Layer]:
    """The rows of the table under '## Layers' whose header is | layer | modules | may import |."""
    text = doc.read_text()
    section = text[text.index("## Layers") :]
    layers, in_table = [], False
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else None
        if cells is None:
            if in_table:
                break
            continue
        if cells[:3] == ["layer", "modules", "may import"]:
            in_table = True
            continue
        if not in_table or set(cells[0]) <= {"-", " "}:
            continue
        prefixes = tuple(re.findall(r"`([^`]+)`", cells[1]))
        allowed = frozenset(n.strip() for n in cells[2].split(",") if n.strip())
        layers.append(Layer(cells[0], prefixes, allowed))
    return layers


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def layer_of(module: str, layers: list[Layer]) -> Layer | None:
    """The layer of the longest prefix that names ``module`` or a package above it."""
    best, best_len = None, -1
    for layer in layers:
        for prefix in layer.prefixes:
            covers = module == prefix or (prefix != "breastlab" and module.startswith(prefix + "."))
            if covers and len(prefix) > best_len:
                best, best_len = layer, len(prefix)
    return best


def resolve(name: str, modules: dict[str, Path]) -> str:
    """The longest known module that ``name`` (a module, or a module and an attribute) starts with."""
    parts = name.split(".")
    for k in range(len(parts), 0, -1):
        candidate = ".".join(parts[:k])
        if candidate in modules:
            return candidate
    return name


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, int, str]]:
    """(imported module, line, how) for every breastlab import and string reference in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(resolve(a.name, modules), node.lineno, "import") for a in node.names if _ours(a.name)]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            if _ours(base):
                found += [(resolve(f"{base}.{a.name}", modules), node.lineno, "from-import") for a in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and MODULE_PATH.fullmatch(node.value):
            found.append((resolve(node.value, modules), node.lineno, "string"))
        elif isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
            head = str(node.values[0].value)
            match = MODULE_PATH.match(head)
            if match and match.end() >= len(head.rstrip(".")) and len(node.values) > 1:
                found.append((resolve(head.rstrip("."), modules), node.lineno, "f-string"))
    return list(dict.fromkeys(found))


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _ours(name: str) -> bool:
    return name == "breastlab" or name.startswith("breastlab.")


def violations(layers: list[Layer], modules: dict[str, Path]) -> list[str]:
    by_name = {layer.name: layer for layer in layers}
    out = []
    for module, path in modules.items():
        own = layer_of(module, layers)
        if own is None:
            out.append(f"{module}: in no layer of {DOC.name}; add it to the table")
            continue
        for target, line, how in imports_of(module, path, modules):
            theirs = layer_of(target, layers)
            if theirs is None or theirs.name == own.name or theirs.name in own.may_import:
                continue
            if (module, target) in EXCEPTIONS:
                continue
            out.append(
                f"{_shown(path)}:{line}: {module} ({own.name}) imports {target} ({theirs.name}) by {how}; "
                f"{own.name} may import: {', '.join(sorted(own.may_import & by_name.keys())) or 'nothing'}"
            )
    return out


def test_the_table_is_well_formed():
    layers = read_layers()
    names = [layer.name for layer in layers]
    assert len(layers) >= 10 and len(set(names)) == len(names)
    for layer in layers:
        unknown = layer.may_import - set(names)
        assert not unknown, f"{layer.name} may import unknown layers {sorted(unknown)}"
        assert layer.name not in layer.may_import

    # No cycle: following "may import" never leads back to where it started.
    def below(name: str, seen: frozenset[str] = frozenset()) -> set[str]:
        assert name not in seen, f"the layers {sorted(seen)} may import each other in a cycle"
        layer = next(lay for lay in layers if lay.name == name)
        return set(layer.may_import).union(*(below(n, seen | {name}) for n in layer.may_import))

    for name in names:
        below(name)


def test_every_import_points_down():
    layers = read_layers()
    bad = violations(layers, source_modules())
    assert not bad, f"{len(bad)} import(s) against docs/architecture.md:\n" + "\n".join(bad)


def test_exceptions_are_counted_and_still_needed():
    """Each listed exception names an edge that exists; a fixed one leaves the list."""
    modules = source_modules()
    edges = {(m, t) for m, p in modules.items() for t, _, _ in imports_of(m, p, modules)}
    stale = [edge for edge in EXCEPTIONS if edge not in edges]
    assert not stale, f"exceptions no longer needed, remove them: {stale}"
    print(f"architecture exceptions: {len(EXCEPTIONS)}")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import breastlab.report.html\n", [("breastlab.report.html", "import")]),
        ("def f():\n    from breastlab.report import html\n", [("breastlab.report.html", "from-import")]),
        (
            "import importlib\nimportlib.import_module('breastlab.report.sections')\n",
            [("breastlab.report.sections", "string")],
        ),
        ("KINDS = {'x': 'breastlab.report.html'}\n", [("breastlab.report.html", "string")]),
        ("def f(n):\n    return f'breastlab.report.{n}'\n", [("breastlab.report", "f-string")]),
        ("'''The breastlab.report package, in prose.'''\n", []),
    ],
)
def test_the_walker_sees_every_kind_of_import(tmp_path, source, expected):
    path = tmp_path / "probe.py"
    path.write_text(source)
    modules = source_modules()
    assert [(t, how) for t, _, how in imports_of("breastlab.data.probe", path, modules)] == expected


def test_an_upward_import_is_reported(tmp_path):
    """A data module that imports a study, by string, is caught (the rule can fail)."""
    layers = read_layers()
    modules = source_modules()
    probe = tmp_path / "probe.py"
    probe.write_text("import importlib\n\ndef f():\n    return importlib.import_module('breastlab.anomaly.train')\n")
    bad = violations(
        layers, {"breastlab.data.probe": probe, "breastlab.anomaly.train": modules["breastlab.anomaly.train"]}
    )
    assert len(bad) == 1 and "breastlab.data.probe (data) imports breastlab.anomaly.train (anomaly) by string" in bad[0]
