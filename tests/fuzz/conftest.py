"""Hypothesis settings for the fuzz suites.

Two profiles, registered here and applied per test through :func:`fuzz` (not loaded globally, so
that the rest of the suite keeps its own hypothesis settings):

- ``units-fuzz`` (CI, the default): derandomized (the same examples on every run), a small
  number of examples per target, so the whole package stays well under a minute.
- ``units-fuzz-long``: ``UNITS_FUZZ_EXAMPLES=20000 .venv/bin/pytest tests/fuzz`` runs that many
  examples per target from a random seed (print_blob shows how to reproduce a failure).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

#: Set to run every fuzz target with this many examples instead of its small CI count.
EXAMPLES_ENV = "UNITS_FUZZ_EXAMPLES"

_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile(
    "units-fuzz", derandomize=True, deadline=None, database=None, suppress_health_check=_QUIET
)
settings.register_profile(
    "units-fuzz-long", deadline=None, print_blob=True, suppress_health_check=_QUIET
)


def long_examples() -> int | None:
    """The example count of a long run, or None in CI."""
    value = os.environ.get(EXAMPLES_ENV)
    return int(value) if value else None


def fuzz(ci_examples: int) -> settings:
    """The settings of one fuzz target: ``ci_examples`` derandomized examples in CI, or the
    long run's count from ``UNITS_FUZZ_EXAMPLES``. Use as a decorator."""
    n = long_examples()
    if n is None:
        return settings(settings.get_profile("units-fuzz"), max_examples=ci_examples)
    return settings(settings.get_profile("units-fuzz-long"), max_examples=n)
