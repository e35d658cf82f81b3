"""lbcodec: low-bit-rate image coding around standard codecs with small CNNs."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lbcodec")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
