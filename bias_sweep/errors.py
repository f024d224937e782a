"""The one exception type for bad input (config, CLI, data).

The CLI turns it into a one-line message and exit code 2, without a traceback.
"""


class UserError(Exception):
    """Bad input from the user: the message names the key or file and what is allowed."""
