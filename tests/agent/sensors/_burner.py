"""A CPU-burning child for tests, named ``h4burner`` (prctl) so it can be recognised among processes."""

import ctypes
import sys

if sys.platform.startswith("linux"):
    ctypes.CDLL(None).prctl(15, b"h4burner", 0, 0, 0)  # PR_SET_NAME
print("ready", flush=True)
while True:
    pass
