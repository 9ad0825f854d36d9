"""Mail delivery to a real SMTP server (aiosmtpd) started by the test: message, HTML part, PDF attachment."""

from __future__ import annotations

import email
from email import policy

import pytest

from collector.report import ReportError
from collector.report.mail import Smtp, build_message, send
from tests.conftest import free_port, wait_until
from tests.report.conftest import need_chromium

aiosmtpd = pytest.importorskip("aiosmtpd", reason="aiosmtpd is in the test extra: pip install -e .[test]")


class Inbox:
    """Collects every message the SMTP server receives."""

    def __init__(self):
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


def test_report_is_delivered_with_html_and_pdf(report, smtp_server):
    need_chromium()
    port, inbox = smtp_server
    send(report, Smtp("127.0.0.1", port), "hinder@example.org", ["cio@example.org", "it@example.org"])
    wait_until(lambda: inbox.messages, 30, what="the message to arrive")
    sender, rcpts, raw = inbox.messages[0]
    assert sender == "hinder@example.org" and rcpts == ["cio@example.org", "it@example.org"]
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg["Subject"] == "Example Corp: IT impact report 2026-W47"
    html = msg.get_body(("html",)).get_content()
    assert "<svg" in html and "2026-W47" in html
    plain = msg.get_body(("plain",)).get_content()
    assert "## Findings" in plain
    attachments = list(msg.iter_attachments())
    assert [a.get_filename() for a in attachments] == ["hinder-report-2026-W47.pdf"]
    assert attachments[0].get_content_type() == "application/pdf"
    assert attachments[0].get_content().startswith(b"%PDF-")


def test_without_pdf_needs_no_chromium(empty_report, smtp_server):
    port, inbox = smtp_server
    send(empty_report, Smtp("127.0.0.1", port), "hinder@example.org", ["cio@example.org"], attach_pdf=False)
    wait_until(lambda: inbox.messages, 30, what="the message to arrive")
    msg = email.message_from_bytes(inbox.messages[0][2], policy=policy.default)
    assert list(msg.iter_attachments()) == []
    assert "No lost working time was recorded" in msg.get_body(("html",)).get_content()


def test_unreachable_server_is_a_clear_error(report):
    port = free_port()  # nothing listens there
    with pytest.raises(ReportError, match=f"via 127.0.0.1:{port} failed"):
        send(report, Smtp("127.0.0.1", port, timeout_s=5), "hinder@example.org", ["cio@example.org"], attach_pdf=False)


def test_message_without_pdf_is_alternative(report):
    msg = build_message(report, "a@example.org", ["b@example.org"], None)
    assert msg.get_content_type() == "multipart/alternative"
