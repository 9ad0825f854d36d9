"""Security headers on every collector response (an ASGI middleware): nothing it serves runs script or is framed.

``Content-Security-Policy`` is the weekly report's own policy (its inline style sheet by hash, nothing else) and
``frame-ancestors 'none'``; JSON and the metrics text need less, so the same strict policy fits every answer. A
route that needs more sets its own header (``/docs``, :mod:`collector.api.spec`), which is kept.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from collector.report.render_html import CSP as REPORT_CSP

SECURITY_HEADERS = {
    "content-security-policy": REPORT_CSP + "; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
_ENCODED = [(name.encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in _ENCODED if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
