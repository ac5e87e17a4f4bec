"""``tinygrad-norm train``, ``tinygrad-norm infer`` and ``tinygrad-norm compare``."""

from __future__ import annotations

import argparse
import os
import shlex
import sys

import tinygrad_norm as tn

from .training import NORMS, OPTIMIZERS, PLATEAU, SCHEDULERS, TARGET_NORMS, TrainingConfig

DEFAULTS = TrainingConfig()


def log(*parts: object) -> None:
    """print, but a closed pipe (``tinygrad-norm train | head``) silences the output instead of stopping the
    work: training goes on and its artifacts are still written."""
    try:
        print(*parts, flush=True)
    except BrokenPipeError:
        silence_stdout()


def silence_stdout() -> None:
    """Send stdout to /dev/null: what a closed pipe means (the reader wants no more), as Python's docs
    recommend, so later writes and the flush at exit raise nothing."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def interrupted_message(argv: list[str], error: BaseException) -> str:
    """What Ctrl-C during ``train`` prints: where the run stopped and the exact command that continues it
    (the run's own flags plus --resume, quoted for the shell)."""
    epoch = getattr(error, "epoch", None)
    flags = [a for a in argv if a != "--resume"]
    if epoch:
        command = shlex.join(["tinygrad-norm", *flags, "--resume"])
        return (f"interrupted: epoch {epoch} was the last to finish, and its state is saved in "
                f"{getattr(error, 'checkpoint', None)}; `{command}` continues from there")
    if getattr(error, "checkpoint", "?") is None:  # train said so: no epoch of this run finished
        command = shlex.join(["tinygrad-norm", *flags])
        return (f"interrupted before the first epoch finished: there is no epoch to resume from; `{command}` "
                "starts again")
    return f"interrupted; `{shlex.join(['tinygrad-norm', *argv])}` runs it again"  # before train could say where


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a fraction from 0 to 1, got {text}")
    return value


def _data_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", metavar="PATH",
                   help="california_housing.csv, StatLib's cal_housing.data or cal_housing.tgz (default: "
                        "$TINYGRAD_NORM_DATA, else the copy shipped with the package)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: %(default)s)")


def _train(args: argparse.Namespace) -> int:
    from .training import train

    config = TrainingConfig(num_epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
                            optimizer=args.optimizer, seed=args.seed, hidden_size=args.hidden_size, norm=args.norm,
                            target_norm=args.target_norm, weight_decay=args.weight_decay, scheduler=args.scheduler,
                            early_stopping=args.early_stopping, device=args.device, artifact_dir=args.artifact_dir,
                            data=args.data,
                            progress=False if args.no_progress else None, verbose=args.verbose)
    train(config, log=log, resume=args.resume)
    return 0


def _infer(args: argparse.Namespace) -> int:
    from .inference import infer

    infer(args.artifact_dir, data=args.data, device=args.device, num_samples=args.samples,
          show_chart=not args.no_chart, plot=args.plot, checkpoint=args.checkpoint, strict=args.strict, log=log,
          export=tuple(args.export) if args.export else None)
    return 0


def _compare(args: argparse.Namespace) -> int:
    from .compare import BULK_HEADER, DEFAULT_RUNS, OUTLIER_FACTOR, OUTLIER_FEATURES, compare, plot, table

    if args.plot:
        tn.plotting.pyplot()  # without matplotlib: say so before training every run, not after
    runs = [r for r in DEFAULT_RUNS if (not args.norm or r.norm in args.norm)
            and (not args.optimizer or r.optimizer in args.optimizer)
            and (not args.target_norm or r.target_norm in args.target_norm)]
    if not runs:  # (each filter alone matches a default run; together they may not)
        raise tn.ArgumentError("no default run has all of the chosen --norm, --optimizer and --target-norm")
    rows = compare(runs, epochs=args.epochs, seed=args.seed, data=args.data, device=args.device,
                   log=lambda *_: None, outliers=args.outliers)
    log(f"California housing, Linear(8, {DEFAULTS.hidden_size}) -> ReLU -> Linear({DEFAULTS.hidden_size}, 1), "
        f"{args.epochs} epochs, batch {DEFAULTS.batch_size}, seed {args.seed}; validation and test splits of 2000 "
        "rows. Test columns use each run's best-validation checkpoint; every MSE is in $100,000 squared, "
        "target normalization or not.\n")
    if args.outliers:
        log(f"--outliers {args.outliers:g}: {rows[0].outliers} training rows have {' and '.join(OUTLIER_FEATURES)} "
            f"multiplied by {OUTLIER_FACTOR:g} (a unit error) before any normalizer is fitted; validation and test "
            f"rows are untouched. {BULK_HEADER} = the interquartile range of the normalized {OUTLIER_FEATURES[0]} of "
            "the test rows: how wide the bulk of the feature is after each run's scaling (a fitted Normalize layer's; "
            "- for the others).\n")
    log(table(rows))
    log("\nspread = std(predictions) / std(targets) on the test rows (near 0: one prediction for every house); "
        "batch vs rows = max |prediction in one batch - prediction of the row alone|, in eval mode (as infer "
        "predicts); batch vs batch (train) = max |prediction in training-sized batches of one shuffle - of "
        "another|, in train mode (as training sees it); dead ReLUs = hidden units that output 0 for every "
        "training row.\n")
    for r in rows if not args.outliers else ():  # (the lessons are of the rows without outliers)
        log(f"- {r.run.label}: {r.run.lesson}")
    if args.plot:
        plot(rows, args.plot)
        log(f"\nwrote {args.plot}")
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("train", help="train the California-housing regression (Burn's simple-regression example)",
                       description="Train Linear(8,64) -> ReLU -> Linear(64,1) on California housing with the "
                                   "normalizer fitted on the training split and stored in the model.")
    p.add_argument("--epochs", type=_positive_int, default=DEFAULTS.num_epochs, help="default: %(default)s")
    p.add_argument("--batch-size", type=_positive_int, default=DEFAULTS.batch_size, help="default: %(default)s")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=DEFAULTS.optimizer,
                   help="adam (Burn's example today) or plain sgd (Burn's example when its bug was reported) "
                        "(default: %(default)s)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: 1e-3 for adam, 1e-2 for sgd)")
    p.add_argument("--seed", type=int, default=DEFAULTS.seed, help="default: %(default)s")
    p.add_argument("--hidden-size", type=_positive_int, default=DEFAULTS.hidden_size, help="default: %(default)s")
    p.add_argument("--norm", choices=NORMS, default=DEFAULTS.norm,
                   help="minmax (Burn's method), standard and robust (median and interquartile range) fit on the "
                        "train split; none; batch-minmax is the bug of normalizing each batch by itself; batchnorm "
                        "and layernorm put nn.BatchNorm1d / nn.LayerNorm first instead (default: %(default)s)")
    p.add_argument("--target-norm", choices=TARGET_NORMS, default=DEFAULTS.target_norm,
                   help="scale the targets by statistics of the training targets for the loss; the model's last "
                        "layer inverts it, so predictions and every reported figure stay in $100,000 (default: "
                        "%(default)s, Burn's recipe)")
    p.add_argument("--weight-decay", type=float, default=DEFAULTS.weight_decay, metavar="FLOAT",
                   help="the optimizer's weight_decay: an L2 penalty added to the gradient, as torch.optim.Adam's "
                        "and SGD's (default: %(default)s)")
    p.add_argument("--scheduler", choices=SCHEDULERS, default=DEFAULTS.scheduler,
                   help="the learning rate per epoch (tn.optim.lr_scheduler, stepped after each epoch): none "
                        "(constant, Burn's example); step: StepLR, x0.1 every third of --epochs; cosine: "
                        "CosineAnnealingLR from --lr to 0 over --epochs; plateau: ReduceLROnPlateau on the valid "
                        f"loss, x{PLATEAU['factor']:g} after {PLATEAU['patience']} epochs without improvement "
                        "(default: %(default)s)")
    p.add_argument("--early-stopping", type=_positive_int, default=DEFAULTS.early_stopping, metavar="PATIENCE",
                   help="stop when the valid loss has not improved for PATIENCE epochs (Burn's "
                        "MetricEarlyStoppingStrategy); infer uses the best epoch (default: off)")
    p.add_argument("--artifact-dir", default=DEFAULTS.artifact_dir, help="where artifacts go (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (there is none when stderr is "
                                                              "not a terminal)")
    p.add_argument("--verbose", action="store_true", help="print every epoch's train and valid loss")
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted run in --artifact-dir from its latest epoch checkpoint (or extend "
                        "a finished one to --epochs)")
    _data_arg(p)
    p.set_defaults(run=_train)

    p = sub.add_parser("infer", help="predict test rows with the trained model and chart predicted vs expected")
    p.add_argument("--samples", type=_positive_int, default=1000, help="test rows to predict (default: %(default)s)")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best",
                   help="the epoch with the lowest validation loss, or the last one (default: %(default)s)")
    p.add_argument("--plot", metavar="FILE.png", help="also write the chart as a PNG (needs the 'plot' extra)")
    p.add_argument("--no-chart", action="store_true", help="skip the terminal chart")
    p.add_argument("--strict", action="store_true", help="exit 2 when a feature of the rows differs from the "
                   "training statistics (outside the training range, mean shifted, spread changed)")
    p.add_argument("--export", nargs=2, metavar=("FORMAT", "PATH"),
                   help="also write the model, its normalizers inside, to PATH: 'torch' (a torch.export .pt2 that "
                        "torch alone loads) or 'onnx' (opset 17); written atomically and checked against the model")
    p.add_argument("--artifact-dir", default=DEFAULTS.artifact_dir, help="where train wrote (default: %(default)s)")
    _data_arg(p)
    p.set_defaults(run=_infer)

    p = sub.add_parser("compare", help="train under every normalization and optimizer and compare (under a minute)",
                       description="Train the same model, seed and split with each normalization (minmax, standard, "
                                   "robust, none, batch-minmax, batchnorm, layernorm), target normalization and "
                                   "optimizer (adam, sgd) and print one table.")
    p.add_argument("--epochs", type=_positive_int, default=30, help="default: %(default)s")
    p.add_argument("--seed", type=int, default=DEFAULTS.seed, help="default: %(default)s")
    p.add_argument("--norm", nargs="+", choices=NORMS, help="only these normalizations")
    p.add_argument("--optimizer", nargs="+", choices=OPTIMIZERS, help="only these optimizers")
    p.add_argument("--target-norm", nargs="+", choices=TARGET_NORMS, help="only these target normalizations")
    p.add_argument("--plot", metavar="FILE.png", help="validation curves and scatter plots (needs the 'plot' extra)")
    p.add_argument("--outliers", type=_fraction, default=0.0, metavar="FRACTION",
                   help="first multiply MedInc and AveRooms of this fraction of the training rows (seeded) by 1000, "
                        "a unit error, before the normalizers are fitted (validation and test rows untouched), and "
                        "show how wide the bulk of MedInc is after each scaling (default: %(default)s, none)")
    _data_arg(p)
    p.set_defaults(run=_compare)
