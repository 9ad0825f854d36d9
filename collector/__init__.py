"""The hinder collector: ingest API, storage (SQLite or PostgreSQL), migrations and Prometheus metrics.

Heavy dependencies (FastAPI, SQLAlchemy, prometheus_client) are imported by
the submodules that need them, never here, so `hinder agent` stays light.
"""
