"""``python -m diffsim_jax``: the ``qtbm`` command-line tool (:mod:`diffsim_jax.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
