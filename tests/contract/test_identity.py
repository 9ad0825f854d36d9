"""contract.identity: the keyed hashes that join tickets to devices."""

import hmac

import pytest

from contract.identity import KEY_HEX, identity_key, normalize, read_secret

SECRET = b"0123456789abcdef-fleet"


@pytest.mark.parametrize("kind, names", [
    ("host", ["PC-0042.corp.example", "pc-0042", "PC-0042$", " pc-0042 "]),
    ("account", ["CORP\\JDoe", "jdoe@corp.example", "JDOE", "jdoe"]),
    ("asset", ["at 00 42", "AT0042", "at0042"]),
])
def test_the_spellings_of_one_name_have_one_key(kind, names):
    keys = {identity_key(SECRET, kind, n) for n in names}
    assert len(keys) == 1
    (key,) = keys
    assert len(key) == KEY_HEX and set(key) <= set("0123456789abcdef")


def test_keys_differ_by_kind_name_and_secret():
    base = identity_key(SECRET, "host", "pc-0042")
    assert identity_key(SECRET, "account", "pc-0042") != base  # a host and an account of the same name
    assert identity_key(SECRET, "host", "pc-0043") != base
    assert identity_key(SECRET + b"x", "host", "pc-0042") != base
    assert "pc-0042" not in base


def test_empty_names_have_no_key_and_bad_input_is_refused(tmp_path):
    assert identity_key(SECRET, "account", "CORP\\") is None
    assert identity_key(SECRET, "host", ".corp") is None
    with pytest.raises(ValueError, match="at least 16 bytes"):
        identity_key(b"short", "host", "pc")
    with pytest.raises(ValueError, match="identity kind"):
        normalize("user", "jdoe")
    (tmp_path / "k").write_bytes(b"  " + SECRET + b"\n")
    assert read_secret(str(tmp_path / "k")) == SECRET
    (tmp_path / "short").write_text("abc\n")
    with pytest.raises(ValueError, match="at least 16 bytes"):
        read_secret(str(tmp_path / "short"))


def test_the_key_is_an_hmac_of_kind_and_normal_form():
    expected = hmac.new(SECRET, b"host\0pc-0042", "sha256").hexdigest()[:KEY_HEX]
    assert identity_key(SECRET, "host", "PC-0042.corp") == expected
