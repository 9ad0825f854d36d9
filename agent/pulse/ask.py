"""The pulse's short-lived child: ``python -m agent.pulse.ask`` shows one question and prints the answer.

It reads the question as JSON on stdin (``{"title": ..., "body": ..., "timeout_s": ...}``), shows it with this
OS's backend (``notify_linux``, ``notify_windows``, ``notify_macos``) and prints one line on stdout: the answer's
name (contract.answers: a button's name, or ``unanswered`` when the question was shown and no answer came), exit
status 0. When nothing can be shown (do not disturb, no notification service, ...) it prints the reason, one
of ``agent.pulse.outcome.REASONS``, and exits with ``NOT_SHOWN``. The agent's process never imports these
backends: D-Bus, WinRT and AppleScript live and die with this child.
"""

from __future__ import annotations

import json
import sys

from agent.pulse.outcome import NOT_SHOWN, UNSUPPORTED, NotShown


def backend(platform: str = sys.platform):
    """The module whose ``ask(title, body, timeout_s) -> answer name`` shows the question on this OS."""
    if platform.startswith("linux"):
        from agent.pulse import notify_linux as module
    elif platform == "win32":
        from agent.pulse import notify_windows as module
    elif platform == "darwin":
        from agent.pulse import notify_macos as module
    else:
        raise NotShown(UNSUPPORTED, platform)
    return module


def main() -> int:
    question = json.loads(sys.stdin.read(65536))
    try:
        answer = backend().ask(str(question["title"]), str(question["body"]), float(question["timeout_s"]))
    except NotShown as exc:
        print(exc.reason)
        print(exc, file=sys.stderr)
        return NOT_SHOWN
    print(answer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
