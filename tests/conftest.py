"""Settings for the whole suite."""

import os

# An unexpected exception inside `onebyone.cli.main` raises (with its traceback) instead of becoming the
# one-line "internal error" users see, so a bug shows where it is; tests of that line unset it.
os.environ.setdefault("ONEBYONE_TRACEBACK", "1")
