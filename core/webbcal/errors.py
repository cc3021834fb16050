"""Errors meant for users.

Every error raised for bad input is a :class:`WebbcalError`: one clear sentence naming
the file, the extension or key, and what was expected.  The command line prints the
message (no traceback) and exits non-zero.
"""


class WebbcalError(Exception):
    """Base class of all errors webbcal reports to a user."""

    exit_code = 2


class InputFileError(WebbcalError):
    """An input file is unreadable, truncated, or lacks what the step needs."""

    def __init__(self, path, what):
        self.path = str(path)
        self.what = what
        super().__init__(f"{self.path}: {what}")


class OutputError(InputFileError):
    """An output file cannot be written (folder missing or read-only, disk full, name too
    long, the path is a folder or one of the inputs); nothing partial is left behind."""

    exit_code = 4


class ReferenceFileError(InputFileError):
    """A reference file is missing, malformed or does not apply."""


class NoPluginError(WebbcalError):
    """No installed plugin handles an exposure's instrument / EXP_TYPE."""


class PluginError(WebbcalError):
    """A plugin's hook raised an unexpected exception (a bug in the plugin, or input
    the plugin did not anticipate); the message names the plugin and the hook."""

    exit_code = 3


class ParameterError(WebbcalError):
    """A step parameter has a wrong name, type or value."""


class ExtractionError(WebbcalError):
    """Extraction cannot proceed (e.g. the aperture lies off the detector)."""
