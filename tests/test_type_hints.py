"""Type hints on every service, selector and admin method (issue 9, build item 6): each parameter and the return of
every function and method in the apps' `services`, `selectors` and `admin` modules, nested functions included
(`self` and `cls` aside; `__init__` returns nothing by definition)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPS = ["core", "reps", "routing", "sla", "notifications", "flows"]

# Known gaps in modules others are changing now, reported to the lead engineer (issue 9 audit): remove a line when
# it is fixed. A new gap anywhere else fails this test.
KNOWN_GAPS: set[str] = set()


def _modules() -> list[Path]:
    found = set()
    for app in APPS:
        for pattern in ("services*.py", "services/*.py", "selectors*.py", "admin*.py"):
            found.update((ROOT / app).glob(pattern))
    return sorted(found)


def _gaps(path: Path) -> list[str]:
    where = path.relative_to(ROOT).as_posix()
    gaps = []

    def visit(node: ast.AST, in_class: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, True)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                args = child.args
                positional = args.posonlyargs + args.args
                if in_class and positional and positional[0].arg in ("self", "cls") and not _is_static(child):
                    positional = positional[1:]
                for arg in [*positional, *args.kwonlyargs, args.vararg, args.kwarg]:
                    if arg is not None and arg.annotation is None:
                        gaps.append(f"{where}: {child.name}: {arg.arg}")
                if child.returns is None and child.name != "__init__":
                    gaps.append(f"{where}: {child.name}: return")
                visit(child, False)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return gaps


def _is_static(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in function.decorator_list)


def test_the_modules_are_found():
    names = {path.relative_to(ROOT).as_posix() for path in _modules()}
    assert {"reps/services.py", "reps/selectors.py", "reps/admin.py", "routing/services/assignment.py", "flows/selectors.py"} <= names


def test_every_service_selector_and_admin_function_is_typed():
    gaps = {gap for path in _modules() for gap in _gaps(path)}
    assert gaps - KNOWN_GAPS == set()
