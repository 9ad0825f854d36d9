"""The pulse tests' desktop: one Xvfb, session bus and dunst per test module."""

import pytest

from tests.agent.pulse._desktop import MISSING, MISSING_REASON, running_desktop


@pytest.fixture(scope="module")
def desktop(tmp_path_factory):
    if MISSING:
        pytest.skip(MISSING_REASON)
    with running_desktop(tmp_path_factory.mktemp("desktop")) as running:
        yield running


@pytest.fixture
def clean_desktop(desktop):
    """The desktop with no notification displayed and dunst not paused."""
    desktop.clear()
    yield desktop
    desktop.clear()
