"""The layout holds: layering, no import cycles, one error tree, a public surface, readable sizes.

The checkers live in tests/support/architecture.py; the first tests show each one catches
what it is for on made-up inputs, the rest apply them to the package.
"""

from __future__ import annotations

import re

import pytest

from airflow_provider_monetate import exceptions
from tests.support import architecture as arch

MODULES = arch.load_modules()
IMPORTS = {name: module.eager | module.lazy for name, module in MODULES.items()}
PROVIDER = {name: m for name, m in MODULES.items() if not name.startswith(f"{arch.PACKAGE}.testing")}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
P = arch.PACKAGE


# -- the checkers catch what they are for ------------------------------------------------------


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        (f"{P}.sensors.monetate", f"{P}.operators.monetate_privacy"),
        (f"{P}.triggers.monetate", f"{P}.operators._load_base"),
        (f"{P}.triggers.monetate", f"{P}.sensors.monetate"),
        (f"{P}.hooks.acquia_cdp", f"{P}.operators.acquia_cdp_tokens"),
        (f"{P}.loading._pipeline", f"{P}.hooks.monetate"),
        (f"{P}.storage", "airflow.sdk"),
        (f"{P}.operators.monetate", "airflow.models"),
    ],
)
def test_layering_checker_flags_a_forbidden_import(importer, imported):
    assert arch.layering_violations({importer: {imported}}) != []


def test_layering_checker_allows_the_intended_direction():
    allowed = {
        f"{P}.operators.monetate": {f"{P}.hooks.monetate", f"{P}.loading._pipeline", f"{P}._compat"},
        f"{P}.sensors.monetate": {f"{P}.triggers.monetate", f"{P}.hooks.monetate"},
        f"{P}._compat": {"airflow.sdk"},
        f"{P}.loading._pipeline": {f"{P}.storage", f"{P}.exceptions", f"{P}._compat"},
    }
    assert arch.layering_violations(allowed) == []


def test_cycle_checker_finds_a_cycle_through_a_package_init():
    imports = {
        f"{P}.a": {f"{P}.b._x"},  # runs b/__init__, which imports a
        f"{P}.b": {f"{P}.a"},
        f"{P}.b._x": set(),
        f"{P}.c._y": {f"{P}.c._z"},  # a module importing a sibling: its own package is fine
        f"{P}.c": {f"{P}.c._y"},
        f"{P}.c._z": set(),
    }
    assert arch.import_cycles(imports) == [[f"{P}.a", f"{P}.b", f"{P}.a"]]


def test_error_and_size_checkers(tmp_path):
    source = tmp_path / P / "loading" / "_bad.py"
    source.parent.mkdir(parents=True)
    body = "\n".join(f"    x = {i}" for i in range(MAX_FUNCTION_LINES + 1))
    source.write_text(f'class OopsError(ValueError):\n    pass\n\n\ndef f():\n    """Doc."""\n{body}\n'
                      "    raise ValueError('no')\n")
    module = arch.load_modules(tmp_path / P)[f"{P}.loading._bad"]
    assert arch.builtin_raises(module) == [f"{P}.loading._bad:{MAX_FUNCTION_LINES + 8} raises ValueError"]
    assert arch.error_classes(module) == [f"{P}.loading._bad:1 OopsError"]
    assert arch.long_functions(module, MAX_FUNCTION_LINES) == [f"{P}.loading._bad.f ({MAX_FUNCTION_LINES + 2} lines)"]


# -- the package --------------------------------------------------------------------------------


def test_hooks_sensors_triggers_and_pure_modules_respect_the_layering():
    assert arch.layering_violations(IMPORTS) == []


def test_the_pure_modules_load_without_airflow():
    pure = [name for name in MODULES if arch.kind(name) in arch.PURE]
    assert pure, "no pure modules found"
    for name in pure:
        assert not any(t.startswith("airflow.") or t == "airflow" for t in MODULES[name].eager), name


def test_no_import_cycles():
    assert arch.import_cycles({name: module.eager for name, module in MODULES.items()}) == []


def test_every_error_is_in_the_one_tree():
    raised = [line for module in PROVIDER.values() for line in arch.builtin_raises(module)]
    assert raised == [], "raise an error from airflow_provider_monetate.exceptions instead"
    defined = [line for name, m in PROVIDER.items() if name != f"{P}.exceptions" for line in arch.error_classes(m)]
    assert defined == [], "define errors in airflow_provider_monetate.exceptions"
    for name in exceptions.__all__:
        assert issubclass(getattr(exceptions, name), exceptions.MonetateProviderError), name


def test_the_status_table_in_the_exceptions_docstring_is_the_one_http_applies():
    from airflow_provider_monetate.http._errors import STATUS_ERRORS

    table = {}
    for line in exceptions.__doc__.splitlines():
        match = re.match(r"^([\d, ]+?)\s{2,}(Api\w+Error)\s", line)
        if match:
            for status in match.group(1).split(","):
                table[int(status)] = match.group(2)
    immediate = {status: name for status, name in table.items() if name != "ApiUnavailableError"}
    assert immediate == {status: cls.__name__ for status, (cls, _hint) in STATUS_ERRORS.items()}


def test_every_public_module_says_what_is_public():
    public = [m for name, m in MODULES.items() if arch.is_public(name) and m.tree.body]
    assert public
    assert [m.name for m in public if not arch.declares_all(m)] == []


def test_modules_and_functions_are_small_enough_to_read():
    too_long = [f"{m.name} ({m.lines} lines)" for m in MODULES.values() if m.lines > MAX_MODULE_LINES]
    assert too_long == []
    functions = [line for m in MODULES.values() for line in arch.long_functions(m, MAX_FUNCTION_LINES)]
    assert functions == []


def test_the_readme_architecture_tree_names_every_module():
    readme = (arch.ROOT.parent / "README.md").read_text()
    tree = readme[readme.index("## Architecture"):readme.index("**A record through a load**")]
    words = set(re.findall(r"[\w.]+", tree))
    missing = [name for name, m in MODULES.items()
               if m.path.name != "__init__.py" and m.path.name not in words and m.path.stem not in words]
    assert missing == [], "add these to the tree in README.md's Architecture section"


def test_every_test_the_readme_names_exists():
    """The uncertainty table names, per reading, the tests that cover it: they must exist."""
    readme = (arch.ROOT.parent / "README.md").read_text()
    named = set(re.findall(r"`(test_[a-z0-9_]+)(?:\.\.\.|\[[^`]*\])?`", readme))
    sources = "\n".join(path.read_text() for path in (arch.ROOT.parent / "tests").rglob("test_*.py"))
    assert len(named) > 20
    assert [name for name in sorted(named) if f"def {name}" not in sources] == []
