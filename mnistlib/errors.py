"""The one exception type for mistakes a user can fix (bad arguments, missing data, bad files)."""


class UserError(Exception):
    """A problem with the user's input; the command line prints it as one line and exits 2."""
