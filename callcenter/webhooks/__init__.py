"""Webhooks: what the center tells the rest of the business (docs/webhooks.md)."""
