"""``python -m tinygrad_norm``: the same command line as ``tinygrad-norm``."""

import sys

from .cli import main

sys.exit(main())
