"""The question as a Windows toast with buttons: PowerShell and WinRT, in the employee's session.

``SHQueryUserNotificationState`` first: nothing is shown while the user is
away or locked (``QUNS_NOT_PRESENT``), busy with a full-screen application
(``QUNS_BUSY``, ``QUNS_RUNNING_D3D_FULL_SCREEN``), presenting
(``QUNS_PRESENTATION_MODE``) or in quiet time (``QUNS_QUIET_TIME``). Then a
Windows PowerShell script loads the toast XML (one ``<action>`` per button,
``arguments`` = the answer's name) from an environment variable (base64 of
UTF-8: the question's text is never part of the script, so nothing in it
needs quoting), shows it with ``ToastNotificationManager.CreateToastNotifier``
under PowerShell's own AppUserModelID (registered by its Start menu shortcut,
so an unpackaged process may use it), waits on the toast's ``Activated``,
``Dismissed`` and ``Failed`` events until the answer time (a toast timed out
on the screen is still in the notification centre) and prints the answer's
name, ``unanswered`` or ``failed``. The script travels as ``-EncodedCommand``.
A notification state that cannot be read asks nothing.
"""

from __future__ import annotations

import base64
import os
import subprocess
from xml.sax.saxutils import escape, quoteattr

from agent.pulse.outcome import ABSENT, DO_NOT_DISTURB, NO_SERVICE, PRESENTATION, NotShown
from contract.answers import BUTTONS, UNANSWERED

# SHQueryUserNotificationState's QUERY_USER_NOTIFICATION_STATE (shellapi.h)
QUNS_NOT_PRESENT, QUNS_BUSY, QUNS_RUNNING_D3D_FULL_SCREEN, QUNS_PRESENTATION_MODE = 1, 2, 3, 4
QUNS_ACCEPTS_NOTIFICATIONS, QUNS_QUIET_TIME, QUNS_APP = 5, 6, 7
_QUNS_REASONS = {QUNS_NOT_PRESENT: ABSENT, QUNS_BUSY: PRESENTATION, QUNS_RUNNING_D3D_FULL_SCREEN: PRESENTATION,
                 QUNS_PRESENTATION_MODE: PRESENTATION, QUNS_QUIET_TIME: DO_NOT_DISTURB}
POWERSHELL_AUMID = r"{1AC14E77-02E7-4E5D-B744-2EB1AE5198B7}\WindowsPowerShell\v1.0\powershell.exe"
TOAST_VARIABLE = "HINDER_TOAST_XML"  # the script's only input: the toast's XML, base64 of UTF-8 (toast_data)
TAG, GROUP = "question", "hinder"  # the toast's name in the notification centre, to remove it
FAILED = "failed"


def quns_reason(state: int | None) -> str | None:
    """Why a notification state forbids asking (an agent.pulse.ask reason), or None when it accepts one; a state
    that could not be read forbids it too."""
    return NO_SERVICE if state is None else _QUNS_REASONS.get(state)


def read_quns() -> int | None:
    """The session's notification state from shell32 (Windows Vista and later); None when it cannot be read."""
    try:
        import ctypes

        state = ctypes.c_int(0)
        if ctypes.windll.shell32.SHQueryUserNotificationState(ctypes.byref(state)) != 0:
            return None
    except (AttributeError, OSError):  # no shell32 (not Windows, a stripped-down session)
        return None
    return state.value


def toast_xml(title: str, body: str) -> str:
    """The toast's XML: two lines of text and one foreground button per answer."""
    buttons = "".join(f"<action content={quoteattr(b.label)} arguments={quoteattr(b.name)} "
                      'activationType="foreground"/>' for b in BUTTONS)
    return (f'<toast duration="long"><visual><binding template="ToastGeneric"><text>{escape(title)}</text>'
            f"<text>{escape(body)}</text></binding></visual><actions>{buttons}</actions></toast>")


def toast_data(title: str, body: str) -> str:
    """The toast's XML as the script reads it from TOAST_VARIABLE: base64 of its UTF-8 bytes."""
    return base64.b64encode(toast_xml(title, body).encode("utf-8")).decode("ascii")


def script(timeout_s: float) -> str:
    """The PowerShell script that shows the toast read from TOAST_VARIABLE and prints the answer; no text of the
    question is in it. A toast that times out on the screen (``Dismissed``, ``TimedOut``: after about 25 s) stays
    in the notification centre, where it can still be answered: the script waits on until ``timeout_s``, then
    hides the toast and removes it from the notification centre."""
    return f"""$ErrorActionPreference = 'Stop'
[Windows.UI.Notifications.ToastNotificationManager, Windows.UI.Notifications, ContentType = WindowsRuntime] | Out-Null
[Windows.Data.Xml.Dom.XmlDocument, Windows.Data.Xml.Dom.XmlDocument, ContentType = WindowsRuntime] | Out-Null
$xml = New-Object Windows.Data.Xml.Dom.XmlDocument
$xml.LoadXml([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($env:{TOAST_VARIABLE})))
$toast = New-Object Windows.UI.Notifications.ToastNotification $xml
$toast.Tag = '{TAG}'
$toast.Group = '{GROUP}'
$aumid = '{POWERSHELL_AUMID}'
$notifier = [Windows.UI.Notifications.ToastNotificationManager]::CreateToastNotifier($aumid)
Register-ObjectEvent -InputObject $toast -EventName Activated -SourceIdentifier hinder.activated | Out-Null
Register-ObjectEvent -InputObject $toast -EventName Dismissed -SourceIdentifier hinder.dismissed | Out-Null
Register-ObjectEvent -InputObject $toast -EventName Failed -SourceIdentifier hinder.failed | Out-Null
$deadline = [DateTime]::UtcNow.AddSeconds({int(timeout_s)})
$answer = 'unanswered'
while ($true) {{
  $left = [int][Math]::Ceiling(($deadline - [DateTime]::UtcNow).TotalSeconds)
  if ($left -le 0) {{ break }}
  $got = Wait-Event -Timeout $left
  if ($got -eq $null) {{ break }}
  Remove-Event -EventIdentifier $got.EventIdentifier
  if ($got.SourceIdentifier -eq 'hinder.activated') {{
    $answer = ([Windows.UI.Notifications.ToastActivatedEventArgs]$got.SourceArgs[1]).Arguments; break }}
  if ($got.SourceIdentifier -eq 'hinder.failed') {{ $answer = 'failed'; break }}
  if ($got.SourceArgs[1].Reason -ne [Windows.UI.Notifications.ToastDismissalReason]::TimedOut) {{ break }}
}}
if ($answer -eq 'unanswered') {{
  try {{ $notifier.Hide($toast) }} catch {{ }}
  try {{ [Windows.UI.Notifications.ToastNotificationManager]::History.Remove('{TAG}', '{GROUP}', $aumid) }} catch {{ }}
}}
$answer
"""


def parse_output(text: str) -> str:
    """The answer from the script's output; NotShown when the toast failed."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    if last == FAILED:
        raise NotShown(NO_SERVICE, "the toast failed (notifications turned off for Windows PowerShell?)")
    return last if last in {b.name for b in BUTTONS} else UNANSWERED


def command(timeout_s: float) -> list[str]:
    """powershell.exe with the script as -EncodedCommand (UTF-16LE, base64)."""
    encoded = base64.b64encode(script(timeout_s).encode("utf-16-le")).decode()
    return ["powershell.exe", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass",
            "-EncodedCommand", encoded]


def ask(title: str, body: str, timeout_s: float) -> str:
    """Show the toast; the answer's name or unanswered. NotShown when the session forbids it."""
    reason = quns_reason(read_quns())
    if reason:
        raise NotShown(reason, "SHQueryUserNotificationState")
    try:
        done = subprocess.run(command(timeout_s), capture_output=True, timeout=timeout_s + 30,
                              env={**os.environ, TOAST_VARIABLE: toast_data(title, body)},
                              creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NotShown(NO_SERVICE, f"powershell: {exc}") from None
    if done.returncode != 0:
        raise NotShown(NO_SERVICE, f"powershell exited with {done.returncode}: "
                       f"{done.stderr.decode('utf-8', 'replace')[-300:]}")
    return parse_output(done.stdout.decode("utf-8", "replace"))
