"""The drop's defaults, in a module that imports nothing: `dvnet drop --help` prints them."""

#: An agency's SSH key for SFTP delivery, relative to its folder.
DEFAULT_IDENTITY = "keys/drop_ed25519"
SSH_PORT = 22
