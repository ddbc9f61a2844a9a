"""Getting an agency's sealed bundles to the coordinator's drop and its signed receipts back.

Agency side only (no Dagster): ``drop`` reads where the drop is (``agency.yaml``'s ``drop:``
section), ``folder`` and ``sftp`` are the two ways to reach it, ``send`` delivers the outbox,
``receipts`` fetches and verifies what the coordinator said about each bundle.
"""
