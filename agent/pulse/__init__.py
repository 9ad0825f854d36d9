"""The employee pulse: one question after a significant measured disruption (docs/pulse.md).

``settings`` (the ``[pulse]`` table), ``policy`` (whether and when to ask; the
runner's entry point), ``session`` (where to ask, as whom), ``ask`` (the
short-lived child that shows the question) with its per-OS backends, and
``explain`` (what ``hinder agent explain`` says about it).
"""
