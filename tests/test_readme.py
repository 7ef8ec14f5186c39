"""The README's code: every ```python block runs as written, in order, in one namespace
(a later block uses what an earlier one made, as a reader typing them in would), and a
`print(...)` whose comment starts with a number prints that number. Shell blocks
(```bash) and the benchmark table are not run."""
import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / 'README.md'
PYTHON_BLOCK = re.compile(r'^```python\n(.*?)^```$', re.MULTILINE | re.DOTALL)
PRINTS_A_NUMBER = re.compile(r'^\s*print\(.*\)\s*#\s*(-?\d[\d.]*)', re.MULTILINE)


def python_blocks():
    """(first line number, source) of each ```python block of the README, in order."""
    text = README.read_text()
    return [(text.count('\n', 0, match.start()) + 2, match.group(1))
            for match in PYTHON_BLOCK.finditer(text)]


def run_blocks():
    """Run every block in one namespace; returns what they printed, as lines."""
    namespace = {'__name__': '__readme__'}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for line, source in python_blocks():
            exec(compile('\n' * (line - 1) + source, str(README), 'exec'), namespace)  # noqa: S102
    return printed.getvalue().splitlines()


def test_the_readme_has_its_four_python_blocks():
    # the first example, the drop-in imports, the fused loop and the compiled loop
    assert len(python_blocks()) == 4


def test_every_python_block_of_the_readme_runs_in_order_in_one_namespace():
    run_blocks()  # raises whatever a block raises, at its README line


def test_each_readme_print_shows_the_number_its_comment_gives():
    expected = [number for _, source in python_blocks()
                for number in PRINTS_A_NUMBER.findall(source)]
    assert expected == ['24.7041', '138.8338', '645.5773']
    assert run_blocks() == expected
