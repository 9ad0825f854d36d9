"""Mail delivery of a report: the HTML as the message body, Markdown as its plain-text part, the PDF attached."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from collector.report import ReportError
from collector.report.render import render


@dataclass
class Smtp:
    """Where and how to send: host, port, optional STARTTLS/TLS and login."""

    host: str
    port: int = 25
    starttls: bool = False
    tls: bool = False  # implicit TLS (SMTPS, usually port 465)
    user: str = ""
    password: str = field(default="", repr=False)
    timeout_s: float = 30.0


def build_message(report: dict, sender: str, recipients: list[str], pdf: bytes | None) -> EmailMessage:
    """The email for a report: plain text and HTML alternatives, the PDF attached when given."""
    msg = EmailMessage()
    msg["Subject"] = f"{report.get('company') or 'hinder'}: IT impact report {report['week']}"
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    msg.set_content(render(report, "md").decode())
    msg.add_alternative(render(report, "html").decode(), subtype="html")
    if pdf is not None:
        msg.add_attachment(pdf, maintype="application", subtype="pdf", filename=f"hinder-report-{report['week']}.pdf")
    return msg


def send(report: dict, smtp: Smtp, sender: str, recipients: list[str], attach_pdf: bool = True) -> EmailMessage:
    """Send the report; ReportError with the server's answer when delivery fails."""
    if not recipients:
        raise ReportError("no recipient given")
    msg = build_message(report, sender, recipients, render(report, "pdf") if attach_pdf else None)
    try:
        cls = smtplib.SMTP_SSL if smtp.tls else smtplib.SMTP
        kwargs = {"context": ssl.create_default_context()} if smtp.tls else {}
        with cls(smtp.host, smtp.port, timeout=smtp.timeout_s, **kwargs) as client:
            if smtp.starttls:
                client.starttls(context=ssl.create_default_context())
            if smtp.user:
                client.login(smtp.user, smtp.password)
            refused = client.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise ReportError(f"mail to {', '.join(recipients)} via {smtp.host}:{smtp.port} failed: {exc}") from None
    if refused:
        raise ReportError(f"the SMTP server refused: {', '.join(refused)}")
    return msg
