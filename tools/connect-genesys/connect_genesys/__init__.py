"""connect-genesys: wires Genesys Cloud to a deployed genesys-webhook stack."""

# The release this tool ships with: the workspace's version.
__version__ = "0.1.0"
