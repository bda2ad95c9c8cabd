"""The one exception type that carries a message meant for the user.

Services raise `StudioError("what went wrong and what to do")`; the UI layer turns it into `gr.Error`, the
command line prints it. Anything else is a bug and is logged with its traceback.
"""
import re

# An absolute path of two or more parts (/home/x/.studio/models/...), not an endpoint name (/models) or a URL.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])(?:/[^\s/'\"`,;:()\[\]{}<>]+){2,}/?")


class StudioError(Exception):
    """A problem with the user's input or request, explained in plain words."""


def public_message(text: str) -> str:
    """`text` with every absolute server path cut to its last part, so no message tells a client how the
    server's folders are laid out (a library's error may quote a cache or temporary folder)."""
    return _ABSOLUTE_PATH.sub(lambda m: m.group(0).rstrip("/").rsplit("/", 1)[-1], str(text))


def check_number(name: str, value, low: float, high: float, *, whole: bool = False, unit: str = ""):
    """`value` as a number in [low, high] (an int when `whole`), or a StudioError saying what to give.

    The one range check behind every request parameter: a form's text, JSON from a script and Python
    numbers all arrive here. `unit` follows the range in the message ("between 1 and 60 frames per second").
    """
    import math

    try:
        if isinstance(value, bool):
            raise TypeError  # JSON true is not a count
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise StudioError(f"{name} must be a {'whole ' if whole else ''}number; got {value!r}") from None
    if whole:
        if not math.isfinite(number) or number != int(number):
            raise StudioError(f"{name} must be a whole number; got {value!r}")
        number = int(number)
    if not low <= number <= high:
        raise StudioError(f"{name} must be between {_plain(low)} and {_plain(high)}{unit}; got {value}")
    return number


def _plain(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
