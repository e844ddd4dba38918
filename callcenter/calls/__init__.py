"""Call records as plain data: what happened to a call, with no I/O."""
