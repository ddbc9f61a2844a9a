"""How long protection may take: the one default, read by the library, the release step and
``dvnet publish --time-limit`` (a module of its own so that a command's ``--help`` imports nothing
heavy to show it)."""

#: Minutes suppression, and each audit of it, may take before a release is refused as not proven
#: safe in time (``AUDIT_INCOMPLETE``).
TIME_LIMIT_MINUTES = 10.0
TIME_LIMIT_SECONDS = 60.0 * TIME_LIMIT_MINUTES
#: The most a coordinator may allow (a week): a finite limit, so a release still fails closed.
TIME_LIMIT_MAX_MINUTES = 7 * 24 * 60.0
