"""Hypothesis profile for the scheduler tests: bounded examples, no deadline.

Registered here and applied per test (``settings(settings.get_profile("schedulers"))``),
so it does not replace the suite-wide profile that tests/conftest.py loads.
"""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "schedulers",
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
