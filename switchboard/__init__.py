"""Switchboard: an open call-center platform on Asterisk 22."""

__version__ = "0.1.0"
