"""Bundle fixtures (shared with tests/adversarial/bundle)."""

from fixtures_bundle import *  # noqa: F403 - pytest collects the fixtures from this namespace
