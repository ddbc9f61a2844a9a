"""Research extracts: assemble, protect, seal to named researchers; close a project. Dagster-free (tested)."""
