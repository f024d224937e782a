"""The one exception type for bad input (config, CLI, data).

The CLI turns it into a one-line message and exit code 2, without a traceback.
"""


class UserError(Exception):
    """Bad input from the user: the message names the key or file and what is allowed."""


def first_line(exc: BaseException) -> str:
    """An exception as one line: its class and the first line of its message."""
    message = str(exc).strip().splitlines()
    return type(exc).__name__ + (f": {message[0]}" if message else "")
