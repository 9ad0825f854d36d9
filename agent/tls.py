"""The agent's one TLS context: the operating system's trust store.

Enterprises install their own CAs there, not in a bundled list. TLS costs
memory (the ssl module and OpenSSL about 4 MiB, the loaded trust store about
1.5 MiB), so the module is imported on first use and every https request of the agent
(uploads, connectivity checks, probes) shares one context.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ssl


@functools.lru_cache(maxsize=None)
def system_trust() -> ssl.SSLContext:
    """The shared SSL context that verifies against the system trust store."""
    import ssl

    return ssl.create_default_context()
