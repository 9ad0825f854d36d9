"""The collector's HTTP API (FastAPI): :func:`.app.create_app` builds the app from one router per concern.

Routers: :mod:`.ingest` (batches from agents), :mod:`.devices` (enrollment,
credential listing and revocation), :mod:`.read` (events and devices for admins), :mod:`.ops` (/metrics, /healthz) and the weekly report
(:mod:`collector.report.api`). Every refusal is a specific JSON error
``{"detail": ...}``; see docs/collector.md for the full list.
"""
