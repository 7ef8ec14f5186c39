"""How the C core gets built and found: build.py run on its own builds nothing and says
what to run, and `import microgradc` refuses a package directory with no core build or
with two (a stale in-place build would be loaded ahead of pip's)."""
import shutil
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

import microgradc

ROOT = Path(__file__).resolve().parents[1]
COMMANDS_THAT_BUILD = ['pip install -e .', 'python -m pip wheel . --no-deps -w dist',
                       'pyproject-build', 'python -m build PATH-TO-THE-CLONE']


def files_under(*folders):
    return {path for folder in folders for path in (ROOT / folder).rglob('*')
            if '__pycache__' not in path.parts}


@pytest.mark.parametrize('command, first_line', [
    (['build.py'], "build.py is the cffi builder that pip runs for setup.py."),
    (['-m', 'build', '--sdist'], "python -m build ran microgradc's build.py, not PyPA's build"),
], ids=['python build.py', 'python -m build'])
def test_build_py_run_on_its_own_builds_nothing_and_names_the_commands_that_do(command, first_line):
    before = files_under('microgradc', 'csrc') | set(ROOT.iterdir())
    run = subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 1
    assert run.stderr.startswith(first_line)
    assert all(command in run.stderr for command in COMMANDS_THAT_BUILD)
    assert files_under('microgradc', 'csrc') | set(ROOT.iterdir()) == before  # no .o, .c, .so, dist/


def package_copy(tmp_path):
    """A copy of the installed package's sources and its core build, in tmp_path/microgradc."""
    source = Path(microgradc.__file__).parent
    copy = tmp_path / 'microgradc'
    copy.mkdir()
    for module in source.glob('*.py'):
        shutil.copy(module, copy)
    return copy, Path(microgradc._core.__file__)


def import_error(where):
    """What `import microgradc` says on stderr, run in `where` (first on the import path)."""
    run = subprocess.run([sys.executable, '-c', 'import microgradc'], cwd=where,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    return run.stderr.strip().splitlines()[-1]


def test_a_second_build_of_the_core_beside_the_first_is_refused_at_import(tmp_path):
    copy, core = package_copy(tmp_path)
    shutil.copy(core, copy)
    other = next('_core' + suffix for suffix in EXTENSION_SUFFIXES if '_core' + suffix != core.name)
    shutil.copy(core, copy / other)  # as an in-place build would sit beside pip's

    error = import_error(tmp_path)
    assert error.startswith('ImportError: microgradc: 2 builds of its C core')
    assert core.name in error and other in error and 'pip install -e .' in error


def test_a_package_directory_without_a_core_build_says_how_to_build_it(tmp_path):
    package_copy(tmp_path)

    error = import_error(tmp_path)
    assert error.startswith('ImportError: microgradc: its C core is not built in')
    assert 'pip install -e .' in error

