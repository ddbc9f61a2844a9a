"""Bundle fixtures (shared with tests/unit/bundle)."""

from fixtures_bundle import *  # noqa: F403 - pytest collects the fixtures from this namespace
