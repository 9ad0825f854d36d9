"""A catalogued "application" for start-time tests: renames itself, works flat out for N seconds, then idles."""

import ctypes
import sys
import time

ctypes.CDLL(None).prctl(15, sys.argv[1].encode(), 0, 0, 0)  # PR_SET_NAME
print("ready", flush=True)
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    pass
time.sleep(60)
