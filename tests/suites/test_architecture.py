"""The layers of the package, as docs/design.md describes them, checked on the import statements.

- no library module imports a tool (``fastnn/tools/``);
- ``fastnn/io.py`` knows files, not models: it imports nothing of fastnn
  (so the model -> io dependency has no way back);
- ``fastnn/reference/`` never imports ``fastnn.kernels``;
- no module assigns a private attribute (``obj._name = ...``) that its own
  classes do not define on ``self``: each module writes only its own
  state (a classmethod of the class that owns the attribute may set it on
  the instance it builds).
"""

from __future__ import annotations

import ast
import pathlib

import fastnn

PACKAGE = pathlib.Path(fastnn.__file__).parent


def _modules(under: pathlib.Path = PACKAGE):
    for path in sorted(under.rglob("*.py")):
        yield path, ast.parse(path.read_text())


def _imports(tree) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _is_library(path: pathlib.Path) -> bool:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] != "tools" and rel.name != "__main__.py"


def test_no_library_module_imports_a_tool():
    offenders = [(str(path.relative_to(PACKAGE)), name) for path, tree in _modules() if _is_library(path)
                 for name in _imports(tree) if name.startswith("fastnn.tools")]
    assert offenders == []


def test_io_imports_nothing_of_fastnn():
    tree = ast.parse((PACKAGE / "io.py").read_text())
    assert [name for name in _imports(tree) if name.startswith("fastnn")] == []


def test_reference_never_imports_kernels():
    offenders = [str(path.relative_to(PACKAGE)) for path, tree in _modules(PACKAGE / "reference")
                 if any(name.startswith("fastnn.kernels") for name in _imports(tree))]
    assert offenders == []


def _private_writes(tree):
    """``(line, target, attribute, on_self)`` for every assignment to a ``_private`` attribute."""
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
        for target in targets:
            for t in ast.walk(target):
                if isinstance(t, ast.Attribute) and t.attr.startswith("_") and not t.attr.startswith("__"):
                    on_self = isinstance(t.value, ast.Name) and t.value.id in ("self", "cls")
                    yield node.lineno, ast.unparse(t), t.attr, on_self


def test_no_module_writes_another_modules_private_attributes():
    offenders = []
    for path, tree in _modules():
        writes = list(_private_writes(tree))
        own = {attr for _, _, attr, on_self in writes if on_self}
        offenders += [f"{path.relative_to(PACKAGE)}:{line} {text}" for line, text, attr, on_self in writes
                      if not on_self and attr not in own]
    assert offenders == []
