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
    from .plotting import pyplot

    if args.plot:
        pyplot()  # without matplotlib: say so before the work, not after
    log = regression_cli.log  # a closed pipe silences the output; the plot is still written
    results = experiments.run(args.only, lr=args.lr, epochs=args.epochs, verbose=args.verbose, log=log)
    log(textwrap.fill(experiments.DATA_NOTE, 79) + "\n")
    log(experiments.table(results))
    ratio = results[0].grad_ratio
    log("\n" + textwrap.fill(f"First-epoch gradients of the two weights differ by {ratio:.3g}x in "
                             f"'{results[0].name}'. Scaled features make them comparable.", 79))
    if args.plot:
        experiments.plot(results, args.plot)
        log(f"wrote {args.plot}")
    return 0


def _diagnose(args: argparse.Namespace) -> int:
    import os

    from . import datasets as ds
    from .datasets._text import echo, some
    from .diagnose import diagnose

    # every file train reads, through the same readers, plus CSVs with any columns; no --data: as train. A CSV or
    # Parquet file (or a glob of them) is streamed, one chunk in memory at a time: files of any size
    from_env = args.data is None and bool(os.environ.get(ds.ENV_DATA))
    origin = f" (from ${ds.ENV_DATA})" if from_env else ""
    if args.data is not None:
        table = ds.iter_table(args.data) if ds.streamable(args.data) else ds.read_table(args.data)
    else:
        table = ds.housing_stream() or ds.california_housing()
    try:
        if args.model is not None:
            return _drift(args, table, origin)
        names = table.names
        housing = sorted(names) == sorted(ds.COLUMNS)  # (read_table gives the housing table in COLUMNS' order)
        target = ds.TARGET if args.target is None and housing else args.target  # the housing table's label is known
        if target is None:
            left = "every column is a feature (--target COL leaves the label out)"
        elif target not in names:
            raise ArgumentError(f"--target {echo(target)} is not a column of {table.source}{origin}; its columns: "
                                f"{some(names, shown=9)}")
        else:
            names = [n for n in (ds.COLUMNS if housing else names) if n != target]
            left = f"target {target} left out" + (" (--target COL leaves out another)" if housing else "")
        report = diagnose(_columns(table, names), feature_names=names)
    except ds.DataError as e:  # (a streamed file's rows are read here, after its header)
        raise (ds._env_error(e) if from_env else e) from None
    print(f"data: {table.source}{origin}; {left}\n")
    print(report)
    return 0


def _columns(table, names: list[str]):
    """The columns ``names`` of a table: a stream that reads only those, or the in-memory values."""
    from .datasets import TableStream

    if isinstance(table, TableStream):
        return table if names == table.names else table.select(names)
    return table.data if names == table.names else table.data[:, [table.names.index(n) for n in names]]


def _drift(args: argparse.Namespace, table, origin: str) -> int:
    """``diagnose --model``: the data against the statistics the model was trained with."""
    from pathlib import Path

    from .datasets._text import some
    from .examples.simple_regression import load_checkpoint

    path = Path(args.model)
    if path.is_dir():
        folder = path
    elif path.name == "model.npz" or not path.exists():
        folder = path.parent
    else:
        raise ArgumentError(f"--model {args.model}: pass a trained model's artifact folder or its model.npz")
    model, info = load_checkpoint(folder)
    norm = getattr(model.normalize, "normalizer", None)  # (a BatchNorm1d or LayerNorm first layer has none)
    if norm is None:
        raise ArgumentError(f"--model {folder / 'model.npz'}: it was trained with --norm {info['config']['norm']}, "
                            "so it holds no training statistics to compare the data with")
    wanted = norm.feature_names or []
    missing = [n for n in wanted if n not in table.names]
    if missing or not wanted:
        raise ArgumentError(f"--data {table.source}{origin}: it lacks the model's feature(s) {some(missing, shown=5)}"
                            if missing else f"--model {folder / 'model.npz'}: its statistics name no features")
    report = norm.drift(_columns(table, wanted))  # (a stream: one chunk in memory at a time)
    print(f"data: {table.source}{origin}; model: {folder / 'model.npz'} ({info['checkpoint']} checkpoint, "
          f"--norm {norm.method})\n")
    print(report)
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

    p = sub.add_parser("diagnose", help="report per-feature scales of a data file and whether they need normalizing")
    p.add_argument("--data", metavar="PATH", help="any file train reads (california_housing.csv, cal_housing.data, "
                   "cal_housing.tgz, compressed or not), a CSV with a header row or a Parquet file, or a glob of them "
                   "('parts/*.csv'; CSV and Parquet files are streamed: any size) (default: $TINYGRAD_NORM_DATA, "
                   "else the copy shipped with the package)")
    p.add_argument("--target", help="column to leave out (the label); default MedHouseVal for the housing table")
    p.add_argument("--model", metavar="DIR|model.npz", help="instead of the scale report, compare the data with the "
                   "training statistics this model carries (tn.DriftReport: rows outside the training range, mean "
                   "shift, std ratio)")
    p.set_defaults(run=_diagnose)

    regression_cli.add_commands(sub)

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.run(args)
    except KeyboardInterrupt as e:
        message = regression_cli.interrupted_message(argv, e) if args.command == "train" else "interrupted"
        print(message, file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader of stdout is gone (`... | head -n 1`): not an error, for every command alike (train and
        # infer keep working silently; a command that was only printing ends here), exit 0 as they do
        regression_cli.silence_stdout()
        return 0
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
