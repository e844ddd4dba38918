"""Exceptions that call-handling code on both sides of the ARI adapter agree on."""


class CallEnded(Exception):
    """The call is over (hung up, gone, or shut down); whatever handles it stops here."""
