"""What both sides of the network share and neither owns: network folders and the registry store,
the hash-chained audit log, atomic owner-only files, and the plain HTML page frame.

Dagster-free; imports ``contracts``, ``bundle`` (key files) and the standard library only.
"""
