"""The agent's one TLS context: the operating system's trust store.

Enterprises install their own CAs there, not in a bundled list. Loading a
trust store costs memory, so the uploader and every probing client share one.
"""

from __future__ import annotations

import functools
import ssl


@functools.lru_cache(maxsize=None)
def system_trust() -> ssl.SSLContext:
    """The shared SSL context that verifies against the system trust store."""
    return ssl.create_default_context()
