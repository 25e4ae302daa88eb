"""Exception classes of neacovid.

Every error a user can cause is one of these; its message names the file,
wave, column or value at fault and says what to do. The CLI and the workflow
scripts turn them into one line on stderr and exit status 2.
"""


class NeaCovidError(Exception):
    """Base class: a problem with the user's input, not a bug."""


class DataError(NeaCovidError):
    """A data column is absent, of the wrong type or holds invalid values."""


class DesignError(NeaCovidError):
    """The survey design cannot be bound to the data (weights, strata, PSUs)."""


class LonelyPSUError(DesignError):
    """A stratum has a single PSU while ``lonely_psu="fail"``."""


class InputFileError(NeaCovidError):
    """An input file is missing, empty, truncated or not of the expected format."""


class CodebookError(NeaCovidError):
    """The codebook does not fit the file it maps, or is inconsistent itself."""


class ConfigError(NeaCovidError):
    """The run configuration is invalid."""
