"""Hypothesis profiles for the optimizer tests: "ci" when $CI is set, else "dev".

Same names and values as tests/conftest.py, so running this directory alone
or the whole suite gives the same settings."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=25, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
