"""The pure core stays pure: the condition engine, text folding and business-time maths take plain data and
return plain data, so they are tested without a database and every app can use them. (The layers between apps
are import-linter's contracts in pyproject.toml, checked by `make test`.)"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PURE = ["core/engine.py", "core/messages.py", "core/conditions.py", "core/condition_terms.py", "core/condition_tests.py", "core/condition_errors.py", "core/scoring.py", "core/resolver.py", "core/round_robin.py", "core/memory_roster.py", "core/facts.py", "core/text.py", "core/business_time.py", "core/iso_codes.py", "core/versioned_cache.py"]
APPS = {"reps", "routing", "sla", "notifications", "flows", "leadrouter"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):  # module- and function-level alike
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("module", PURE)
def test_pure_core_module_uses_no_orm_and_no_app(module):
    imported = _imports(ROOT / module)
    assert not {name for name in imported if name == "django.db" or name.startswith("django.db.")}, f"{module} must not use the ORM"
    assert not {name for name in imported if name.split(".")[0] in APPS}, f"{module} must not import an app"
