"""Fixtures for the agent's tests."""

import shutil
import subprocess

import pytest

from agent.config import load_config
from contract.settings import ConfigError


@pytest.fixture
def config_error(tmp_path):
    """Load an agent config given as TOML text and return the ConfigError's message (fails if it loads)."""

    def _load(text: str) -> str:
        path = tmp_path / "agent.toml"
        path.write_text(text)
        with pytest.raises(ConfigError) as exc:
            load_config(path, env={})
        return str(exc.value)

    return _load


@pytest.fixture
def enterprise_ca(tmp_path):
    """A private CA and a server certificate for 127.0.0.1 signed by it (made with the openssl CLI)."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")

    def sh(*args):
        subprocess.run(["openssl", *args], cwd=tmp_path, check=True, capture_output=True)

    sh("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
       "-subj", "/CN=hinder test enterprise CA")
    sh("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1")
    (tmp_path / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    sh("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "srv.pem",
       "-days", "2", "-extfile", "san.ext")
    return tmp_path / "ca.pem", (str(tmp_path / "srv.pem"), str(tmp_path / "srv.key"))
