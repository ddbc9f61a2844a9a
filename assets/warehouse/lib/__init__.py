"""The warehouse's pure logic: the DuckDB schema and the indicator cubes. Dagster-free (tested)."""
