"""Central fixtures: ck, kit, instance (shared with the integration, adversarial and UI tests)."""

from fixtures_central import *  # noqa: F403 - pytest collects the fixtures from this namespace
