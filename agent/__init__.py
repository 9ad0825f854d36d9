"""The hinder agent: detects IT disruptions on an employee's machine and delivers them.

It imports only the standard library, psutil, httpx and typer, and must stay
small in memory: it runs unattended on every desktop and laptop.
"""

import sys

# httpx imports its optional command-line client (rich, pygments, click: about
# 16 MiB) whenever those packages are installed, and typer installs them. The
# agent never uses that client; mapping the module to None makes httpx take its
# documented fallback (ImportError) and keeps the agent's memory down.
sys.modules.setdefault("httpx._main", None)
