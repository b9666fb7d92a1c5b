"""The one exception type that the command-line tools turn into a single clear line."""


class RevseqError(Exception):
    """Bad input from a user: a flag, a file, a checkpoint. Its message is shown as is."""
