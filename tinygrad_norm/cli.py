"""The ``tinygrad-norm`` command line: experiments, diagnose, train, infer."""

from __future__ import annotations

import argparse
import errno
import sys
import textwrap

from . import __version__
from .errors import ArgumentError, TinygradNormError
from .examples.simple_regression import cli as regression_cli


def _experiments(args: argparse.Namespace) -> int:
    from . import experiments

    results = experiments.run(args.only, lr=args.lr, epochs=args.epochs, verbose=args.verbose)
    print(textwrap.fill(experiments.DATA_NOTE, 79) + "\n")
    print(experiments.table(results))
    ratio = results[0].grad_ratio
    print("\n" + textwrap.fill(f"First-epoch gradients of the two weights differ by {ratio:.3g}x in "
                               f"'{results[0].name}'. Scaled features make them comparable.", 79))
    if args.plot:
        experiments.plot(results, args.plot)
        print(f"wrote {args.plot}")
    return 0


def _diagnose(args: argparse.Namespace) -> int:
    from .datasets import read_csv
    from .diagnose import diagnose

    names, data = read_csv(args.data)
    if args.target:
        if args.target not in names:
            raise ArgumentError(f"--target {args.target!r} is not a column of {args.data}; columns: {names}")
        keep = [i for i, n in enumerate(names) if n != args.target]
        names, data = [names[i] for i in keep], data[:, keep]
    print(diagnose(data, feature_names=names))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinygrad-norm",
        description="A small autograd engine that shows why feature scaling decides whether gradient descent works.")
    parser.add_argument("--version", action="version", version=f"tinygrad-norm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("experiments",
                       help="the normalization experiments: raw vs maxabs vs standard (a 5-row toy data set)",
                       description="Train the same 2-feature linear regression with and without feature scaling.")
    p.add_argument("--only", nargs="+", choices=["raw", "maxabs", "standard", "standard-predict"],
                   help="run only these experiments")
    p.add_argument("--epochs", type=int, help="override every experiment's number of epochs")
    p.add_argument("--lr", type=float, help="override every experiment's learning rate")
    p.add_argument("--verbose", action="store_true", help="print the loss and w.grad of every epoch")
    p.add_argument("--plot", metavar="FILE.png", help="draw the loss curves (needs the 'plot' extra: matplotlib)")
    p.set_defaults(run=_experiments)

    p = sub.add_parser("diagnose", help="report per-feature scales of a CSV and whether they need normalizing")
    p.add_argument("--data", required=True, metavar="FILE.csv", help="CSV with a header row of column names")
    p.add_argument("--target", help="column to leave out (the label), e.g. MedHouseVal")
    p.set_defaults(run=_diagnose)

    regression_cli.add_commands(sub)

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.run(args)
    except KeyboardInterrupt:
        hint = "; `tinygrad-norm train --resume` continues from the last finished epoch" if args.command == "train" \
            else ""
        print(f"interrupted{hint}", file=sys.stderr)
        return 130
    except TinygradNormError as e:
        # our errors say what was wrong and what to do: one line, no traceback. Anything else is a bug
        # and keeps its traceback.
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {_file_error(e)}", file=sys.stderr)
        return 2


def _file_error(e: OSError) -> str:
    """A file-system error as one line: what failed, on which path, and what to do."""
    if e.strerror is None:  # raised by us with a full message
        return str(e)
    path = f" {e.filename}" if e.filename else ""
    todo = {errno.ENOSPC: "free some disk space, or choose another --artifact-dir",
            errno.EDQUOT: "free some disk space, or choose another --artifact-dir",
            errno.EROFS: "the file system is read-only: choose another --artifact-dir",
            errno.EACCES: "check the permissions, or choose another path",
            errno.EPERM: "check the permissions, or choose another path"}.get(e.errno, "check the path")
    return f"{e.strerror}:{path}; {todo}"


if __name__ == "__main__":
    sys.exit(main())
