"""Hypothesis profiles: `ci` (reproducible, set when CI is in the environment), `dev`, and
`long` (thousands of examples, for a search on your machine: HYPOTHESIS_PROFILE=long);
and a check, around every test, that no node outlives the test that made it."""
import gc
import os

import pytest
from hypothesis import settings

from microgradc.engine import live_nodes

settings.register_profile("ci", derandomize=True, max_examples=100, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.register_profile("long", max_examples=5000, stateful_step_count=100, deadline=None,
                          print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))

_settled = [None]  # live_nodes() as the last test left it


@pytest.fixture(autouse=True)
def every_test_leaves_live_nodes_where_it_found_them():
    """The collector (slow with torch loaded) runs only when the count differs, to free
    the reference cycles a test left behind before the counts are compared."""
    baseline = live_nodes()
    if baseline != _settled[0]:
        gc.collect()
        baseline = live_nodes()
    yield
    after = live_nodes()
    if after != baseline:
        gc.collect()
        after = live_nodes()
    _settled[0] = after
    assert after == baseline, f"the test left {after - baseline} more live nodes than it found"
