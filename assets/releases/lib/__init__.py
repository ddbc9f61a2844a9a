"""The releases' pure logic: protect, audit and write a release; the release ledger. Dagster-free (tested)."""
