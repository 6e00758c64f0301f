"""The one exception type for mistakes a user can fix (bad arguments, missing data, bad files), and
the one-line form of any error for a table or a record."""


class UserError(Exception):
    """A problem with the user's input; the command line prints it as one line and exits 2."""


def one_line(error: BaseException, limit: int = 200) -> str:
    """``Type: first line of the message``, at most ``limit`` characters of message."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0][:limit]}" if lines else type(error).__name__
