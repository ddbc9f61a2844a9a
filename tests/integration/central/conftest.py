"""Central fixtures: ck, kit, instance (shared with the adversarial and UI tests), and a real
PostgreSQL server for the instance on PostgreSQL."""

from fixtures_central import *  # noqa: F403 - pytest collects the fixtures from this namespace
from fixtures_postgres import postgres  # noqa: F401
