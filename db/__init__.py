"""The PostgreSQL schema (SQLAlchemy 2) and the ways in and out of it."""
