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


class NotebookError(NeaCovidError):
    """A notebook failed to run (a cell raised) or got parameters it does not declare."""


# Characters that must not reach a terminal as they are: C0 and C1 controls
# (escape sequences, newlines that forge output lines, NUL), DEL, bidi
# embeddings, overrides and isolates (text that reads other than it is), and
# the Unicode line and paragraph separators.
_UNPRINTABLE = {
    *range(0x00, 0x20),
    *range(0x7F, 0xA0),
    0x061C,
    0x200E,
    0x200F,
    0x2028,
    0x2029,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
}
_ESCAPES = {
    code: (
        {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}.get(code)
        or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    )
    for code in _UNPRINTABLE
}
PRINTABLE_LIMIT = 300
# An error message is printed whole unless absurdly long (a 10,000-character id).
MESSAGE_LIMIT = 2000


def printable(text: object, limit: int | None = PRINTABLE_LIMIT) -> str:
    """``text`` safe to print on one terminal line: control characters escaped
    (a newline as ``\\n``, ESC as ``\\x1b``, U+202E as ``\\u202e``) and, beyond
    ``limit`` characters, cut short with a note of the full length."""
    text = str(text)
    if limit is not None and len(text) > limit:
        text = f"{text[:limit]}... ({len(text):,} characters)"
    return text.translate(_ESCAPES)
