"""The words of the decision log (``dvnet.common.decisions``), in a module that imports nothing:
`dvnet decision record --help` lists them."""

CHANGES = ("adopted", "stopped")
KINDS = ("external-data", "framework", "tool")
