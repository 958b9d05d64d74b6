"""The ``qtbm`` command-line tool (docs/cli.md): :func:`main` is its entry point."""

from .main import main

__all__ = ["main"]
