"""FastAGI: what dialplan asks of Switchboard (lookups, DNC checks, routing decisions)."""
