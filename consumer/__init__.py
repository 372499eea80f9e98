"""infusion-validator: decides home infusion claims against policy RB.046.A."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("infusion-validator")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+source"
