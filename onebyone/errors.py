"""The package's one exception type for bad user input.

It subclasses ValueError so callers that catch ValueError keep working; the CLI turns it
into one line on stderr and exit code 2.
"""


class OneByOneError(ValueError):
    """Bad input to onebyone: names the bad value and what was expected."""
