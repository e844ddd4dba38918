"""Outbound dialing: campaigns, pacing, the dialer."""
