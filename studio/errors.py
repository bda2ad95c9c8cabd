"""The one exception type that carries a message meant for the user.

Services raise `StudioError("what went wrong and what to do")`; the UI layer turns it into `gr.Error`, the
command line prints it. Anything else is a bug and is logged with its traceback.
"""


class StudioError(Exception):
    """A problem with the user's input or request, explained in plain words."""
