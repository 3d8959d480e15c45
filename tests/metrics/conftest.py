"""Hypothesis budget for the metrics suite: profile "metrics-ci" when $CI is set
(30 examples, no deadline, derandomized), "metrics-dev" otherwise (60 examples).
Tests pick it up through :data:`tests.metrics.strategies.SETTINGS`."""

from hypothesis import HealthCheck, settings

_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large]
settings.register_profile("metrics-ci", max_examples=30, deadline=None, derandomize=True,
                          suppress_health_check=_QUIET)
settings.register_profile("metrics-dev", max_examples=60, deadline=None,
                          suppress_health_check=_QUIET)
