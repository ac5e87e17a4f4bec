"""Entry point of the ``tinygrad-norm`` command.

It lives outside the ``tinygrad_norm`` package so that a Ctrl-C while the package (and NumPy) are
still being imported ends the command quietly, like a Ctrl-C at any later moment, instead of
with a KeyboardInterrupt traceback.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    try:
        from tinygrad_norm.cli import main as run
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
