"""The agent's one TLS context: the operating system's trust store, or the CA bundle IT configured.

Enterprises install their own CAs in the system store; where they cannot,
``agent.ca_bundle`` names a PEM file of the CAs to trust instead (like curl's
``--cacert``). The running agent sets it once (:func:`use_ca_bundle`) and every
https request of the agent (uploads, connectivity checks, probes) shares one
context. TLS costs memory (the ssl module and OpenSSL about 4 MiB, the loaded
trust store about 1.5 MiB), so ``ssl`` is imported on first use, not here.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from contract.settings import ConfigError

if TYPE_CHECKING:
    import ssl

_PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"
_ca_bundle = ""  # agent.ca_bundle of this process; "" is the system trust store


def check_ca_bundle(path: str) -> None:
    """Refuse a CA bundle that cannot be read or holds no PEM certificate (without loading ``ssl``)."""
    try:
        with open(path, "rb") as fh:
            text = fh.read(10_000_000)
    except OSError as exc:
        raise ConfigError(f"agent.ca_bundle: cannot read {path}: {exc.strerror or exc}") from None
    if _PEM_CERTIFICATE not in text:
        raise ConfigError(f"agent.ca_bundle: {path} holds no PEM certificate ({_PEM_CERTIFICATE.decode()} ...)")


def use_ca_bundle(path: str) -> None:
    """Verify every https request of this process against the CAs in ``path``; "" for the system trust store."""
    global _ca_bundle
    _ca_bundle = path
    shared_context.cache_clear()


def trust_source(ca_bundle: str | None = None) -> str:
    """What certificates are checked against (this process's, or with the given ``ca_bundle``), in words."""
    path = _ca_bundle if ca_bundle is None else ca_bundle
    return f"the CA bundle {path}" if path else "the operating system's trust store"


@functools.lru_cache(maxsize=None)
def shared_context() -> ssl.SSLContext:
    """The shared SSL context: verifies certificates and host names against :func:`trust_source`."""
    import ssl

    return ssl.create_default_context(cafile=_ca_bundle or None)
