"""The shared range check every request parameter goes through."""
from __future__ import annotations

import pytest

from studio.core.errors import StudioError, check_number


def test_check_number_converts_and_refuses_with_plain_messages():
    assert check_number("steps", "12", 1, 100, whole=True) == 12
    assert check_number("steps", 12.0, 1, 100, whole=True) == 12
    assert check_number("strength", "0.5", 0.0, 1.0) == 0.5
    with pytest.raises(StudioError, match=r"^steps must be a whole number; got 2.5$"):
        check_number("steps", 2.5, 1, 100, whole=True)
    with pytest.raises(StudioError, match=r"^steps must be a whole number; got 'many'$"):
        check_number("steps", "many", 1, 100, whole=True)
    with pytest.raises(StudioError, match=r"^strength must be a number; got None$"):
        check_number("strength", None, 0.0, 1.0)
    with pytest.raises(StudioError, match=r"^steps must be a whole number; got inf$"):
        check_number("steps", float("inf"), 1, 100, whole=True)
    with pytest.raises(StudioError, match=r"^fps must be between 1 and 60 frames per second; got 0$"):
        check_number("fps", 0, 1, 60, whole=True, unit=" frames per second")
    with pytest.raises(StudioError, match=r"^steps must be between 1 and 1000000; got 0$"):
        check_number("steps", 0, 1, 1_000_000, whole=True)  # no 1e+06 in messages
    with pytest.raises(StudioError, match=r"^strength must be between 0 and 0.25; got nan$"):
        check_number("strength", float("nan"), 0.0, 0.25)
