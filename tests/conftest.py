"""Suite-wide settings: bounded hypothesis profiles ("ci" when $CI is set), an
isolated kernel cache per test session (never the user's ~/.cache) and no
tuning (ODYSSEY_TUNE=0: the default kernel shapes, nothing is ever timed; the
tuner's own tests turn it on where they need it and count, never clock)."""

import os
import tempfile

from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=50, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")

os.environ.setdefault("ODYSSEY_CACHE_DIR", tempfile.mkdtemp(prefix="odyssey-test-cache-"))
os.environ.setdefault("ODYSSEY_VERIFY_IR", "1")
os.environ.setdefault("ODYSSEY_TUNE", "0")
