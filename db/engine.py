"""Engines for the application (async) and for migrations and tools (sync)."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def async_engine(url: str) -> AsyncEngine:
    return create_async_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def sync_engine(url: str) -> Engine:
    return create_engine(url, pool_pre_ping=True)
