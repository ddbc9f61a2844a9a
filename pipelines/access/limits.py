"""The bounds of one evaluator query (``access.query``), apart so `dvnet query --help` need not load DuckDB."""

#: What one query may take (seconds) unless the caller says otherwise (`dvnet query --time-limit`).
TIME_LIMIT_SECONDS = 60.0
TIME_LIMIT_MAX_SECONDS = 3600.0
#: The most rows one query returns (a release holds thousands; a result past this is a runaway join).
MAX_ROWS = 1_000_000
#: DuckDB's own working memory for one query (it never spills to disk there).
MEMORY_LIMIT = "1GB"
