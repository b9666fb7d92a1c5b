"""The exception types that the command-line tools turn into a single clear line."""


class RevseqError(Exception):
    """Bad input from a user: a flag, a file, a checkpoint. Its message is shown as is."""

    exit_code = 2


class StoppedError(RevseqError):
    """A run stopped on request (Ctrl-C, SIGTERM) after saving what it needs to resume."""

    exit_code = 130


class RevseqWarning(UserWarning):
    """A result given with a caveat (a sentence outside the lengths a model was trained on);
    the command-line tools print it as one line on stderr."""
