"""The asyncio ARI (Stasis) application: our own client, per-call handlers, call flows."""
