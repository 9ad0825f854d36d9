"""What the ask child may report besides an answer: nothing shown, and why (a bounded set of reasons)."""

from __future__ import annotations

NOT_SHOWN = 3  # the child's exit status when nothing was shown; its stdout names the reason
NO_SERVICE = "no notification service"
NO_ACTIONS = "notifications cannot carry answers"
DO_NOT_DISTURB = "do not disturb"
PRESENTATION = "presentation or full screen"
ABSENT = "nobody at the session"
UNSUPPORTED = "no backend for this system"
REASONS = (NO_SERVICE, NO_ACTIONS, DO_NOT_DISTURB, PRESENTATION, ABSENT, UNSUPPORTED)


class NotShown(Exception):
    """Nothing was shown; ``reason`` is one of REASONS, the message says more."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
