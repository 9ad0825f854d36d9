"""The hinder agent: detects IT disruptions on an employee's machine and delivers them.

It imports only the standard library, psutil and typer (for its command line),
and must stay small in memory: it runs unattended on every desktop and laptop.
Its HTTP client is its own (:mod:`agent._http`).
"""
