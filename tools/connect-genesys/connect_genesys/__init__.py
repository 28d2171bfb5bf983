"""connect-genesys: wires Genesys Cloud to a deployed genesys-webhook stack."""
