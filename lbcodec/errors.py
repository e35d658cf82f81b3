"""Exceptions raised by lbcodec's library code.

The CLI maps every :class:`LbcError` to a one-line message and exit status 1
(a data or I/O error); usage errors are the CLI's own business (exit status 2).
"""

from __future__ import annotations


class LbcError(Exception):
    """Base class of every error lbcodec reports to a user."""


class InputError(LbcError):
    """An input image cannot be read or is not supported."""


class CorruptContainerError(LbcError):
    """A .lbc file is truncated, altered or not a .lbc file at all."""


class BudgetError(LbcError):
    """The requested rate cannot be reached with the chosen pipeline; ``smallest`` is the size in
    bytes of the smallest file it can make, where known."""

    def __init__(self, message: str, smallest: int | None = None):
        super().__init__(message)
        self.smallest = smallest


class CodecUnavailableError(LbcError):
    """A standard codec is not available in this installation."""


class OutputError(LbcError):
    """An output file cannot be written (exists, unwritable, same as the input)."""
