"""The intake's pure logic: verify, quarantine or load a sealed bundle. Dagster-free (tested)."""
