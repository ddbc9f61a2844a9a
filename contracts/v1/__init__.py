"""Version 1 of the network's data contracts (released: frozen; a change is a new version)."""
