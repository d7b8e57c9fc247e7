"""Shared test configuration: hypothesis profiles (CI runs more examples)."""

from __future__ import annotations

import os

import authlib.deprecate  # noqa: F401 - import first: it forces its warnings on at import time
from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
