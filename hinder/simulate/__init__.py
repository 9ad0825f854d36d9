"""Fleet simulator: a realistic, reproducible fleet's heartbeats, events, pulse answers and app focus time, sent
through the real ingest API.

For dashboards, demos, benchmarks and tests. ``fleet`` holds the fleet model
and the record generator (standard library and ``contract`` only), ``sender``
chunks records into wire batches and posts them to a collector, and ``cli``
is the ``hinder simulate`` command.
"""
