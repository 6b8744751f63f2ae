"""The build under test is the one the run expects: compiled with ``make test-compiled``, else Python.

With ``HUBBUB_EXPECT_COMPILED=1`` every module pyproject.toml lists for mypyc must be imported
compiled, or the suite would test the Python source under the compiled build's name. Without it
none may be: an extension module left in the source tree (a build in place) would be imported
instead of the ``.py`` beside it, and edits to that file would silently not run.
"""

from __future__ import annotations

from tests.support.build import EXPECT_ENV, compiled_module_names, expect_compiled, is_compiled


def test_listed_modules_are_compiled_exactly_when_the_run_expects_the_compiled_build():
    names = compiled_module_names()
    assert names, "pyproject.toml lists no modules under [tool.hubbub.compile]"
    wrong = [name for name in names if is_compiled(name) != expect_compiled()]
    if expect_compiled():
        assert not wrong, f"{EXPECT_ENV}=1 but these run as Python source: {wrong}"
    else:
        assert not wrong, (
            f"compiled modules imported in a run of the Python source: {wrong} "
            f"(remove the stale extension modules, or set {EXPECT_ENV}=1 for a compiled build)"
        )
