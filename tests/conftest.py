"""Hypothesis profiles: `ci` (reproducible, set when CI is in the environment) and `dev`."""
import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, max_examples=100, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
