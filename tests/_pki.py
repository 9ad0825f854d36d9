"""A real certificate authority for tests, made with the openssl CLI: a CA and the server certificates it signs."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest


class TestCA:
    """A private CA in ``directory``: ``pem`` is its certificate (what clients trust); ``issue`` signs servers'."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory: Path, name: str = "hinder test enterprise CA"):
        if not shutil.which("openssl"):
            pytest.skip("openssl is not installed")
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.pem, self._key = directory / "ca.pem", directory / "ca.key"
        self._openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self._key, "-out", self.pem,
                      "-days", "2", "-subj", f"/CN={name}")

    def _openssl(self, *args) -> None:
        subprocess.run(["openssl", *map(str, args)], cwd=self.directory, check=True, capture_output=True)

    def issue(self, name: str = "127.0.0.1", san: str = "IP:127.0.0.1") -> tuple[str, str]:
        """A server certificate for ``san`` (``IP:127.0.0.1``, ``DNS:collector.example.org``): (cert, key) paths."""
        cert, key, csr, ext = (self.directory / f"{name}.{suffix}" for suffix in ("pem", "key", "csr", "ext"))
        self._openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={name}")
        ext.write_text(f"subjectAltName={san}\n")
        self._openssl("x509", "-req", "-in", csr, "-CA", self.pem, "-CAkey", self._key, "-CAcreateserial", "-out", cert,
                      "-days", "2", "-extfile", ext)
        return str(cert), str(key)

    def client_context(self, check_hostname: bool = True) -> ssl.SSLContext:
        """A client's SSL context trusting only this CA."""
        context = ssl.create_default_context(cafile=self.pem)
        context.check_hostname = check_hostname
        return context
