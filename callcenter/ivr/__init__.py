"""IVR call flows: the YAML schema, its loader and linter, and the walker that runs a flow.

Plain code: the ARI adapter gives the walker a port to the call (play, keys, hang up) and the
services it may need (lookups, queues, callbacks); unit tests give it fakes.
"""
