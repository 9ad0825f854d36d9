"""The question on macOS: an AppleScript ``choose from list`` dialog run by ``osascript``.

What an unbundled process can do: ``display notification`` takes no answer
(and UNUserNotificationCenter needs a signed app bundle), ``display dialog``
has at most three buttons; ``choose from list`` offers the four answers, an
"Answer" and a "Not now" button. It has no time-out of its own: the dialog's
process is ended when the answer time is over (unanswered). The texts travel
as arguments of ``on run argv``, never inside the script. Focus (do not
disturb): the active Focus assertions in ``~/Library/DoNotDisturb/DB/Assertions.json``
where this user may read them (macOS 12 and later; otherwise unknown, and the
question is shown).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from agent.pulse.outcome import DO_NOT_DISTURB, NO_SERVICE, NotShown
from contract.answers import BUTTONS, UNANSWERED

SCRIPT = """on run argv
  set picked to choose from list (items 3 thru -1 of argv) with title (item 1 of argv) with prompt (item 2 of argv) \
OK button name "Answer" cancel button name "Not now"
  if picked is false then return "false"
  return item 1 of picked
end run"""
ASSERTIONS = "Library/DoNotDisturb/DB/Assertions.json"


def command(title: str, body: str) -> list[str]:
    """osascript with the dialog's script and its texts as arguments."""
    return ["osascript", "-e", SCRIPT, title, body, *(b.label for b in BUTTONS)]


def parse_output(text: str) -> str:
    """The answer's name from the label osascript printed; unanswered for "false" (Not now) or anything else."""
    by_label = {b.label: b.name for b in BUTTONS}
    return by_label.get(text.strip(), UNANSWERED)


def focus_active(assertions: str) -> bool:
    """Whether a Focus mode is on, from the text of Assertions.json (its storeAssertionRecords)."""
    try:
        data = json.loads(assertions).get("data") or []
    except (ValueError, AttributeError):
        return False
    return any(isinstance(d, dict) and d.get("storeAssertionRecords") for d in data)


def _focus_on() -> bool:
    try:
        return focus_active((Path(os.path.expanduser("~")) / ASSERTIONS).read_text())
    except OSError:
        return False  # not readable (privacy protection, older macOS): unknown


def ask(title: str, body: str, timeout_s: float) -> str:
    """Show the dialog; the answer's name or unanswered. NotShown in a Focus mode or without osascript."""
    if _focus_on():
        raise NotShown(DO_NOT_DISTURB, "a Focus mode is on")
    try:
        done = subprocess.run(command(title, body), capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return UNANSWERED  # subprocess.run ended the dialog's process
    except OSError as exc:
        raise NotShown(NO_SERVICE, f"osascript: {exc}") from None
    return parse_output(done.stdout) if done.returncode == 0 else UNANSWERED
