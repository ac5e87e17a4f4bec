"""``tinygrad-norm train`` and ``tinygrad-norm infer``."""

from __future__ import annotations

import argparse

from .training import NORMS, TrainingConfig

DEFAULTS = TrainingConfig()


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--artifact-dir", default=DEFAULTS.artifact_dir, help="where artifacts go (default: %(default)s)")
    p.add_argument("--data", metavar="PATH", help="california_housing.csv (default: $TINYGRAD_NORM_DATA, the cache, "
                                                  "or a one-time download)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: %(default)s)")


def _train(args: argparse.Namespace) -> int:
    from .training import train

    config = TrainingConfig(num_epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.lr,
                            seed=args.seed, hidden_size=args.hidden_size, norm=args.norm, device=args.device,
                            artifact_dir=args.artifact_dir, data=args.data, progress=not args.no_progress)
    train(config)
    return 0


def _infer(args: argparse.Namespace) -> int:
    from .inference import infer

    infer(args.artifact_dir, data=args.data, device=args.device, num_samples=args.samples,
          show_chart=not args.no_chart, plot=args.plot)
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("train", help="train the California-housing regression (Burn's simple-regression example)",
                       description="Train Linear(8,64) -> ReLU -> Linear(64,1) on California housing with the "
                                   "normalizer fitted on the training split and stored in the model.")
    p.add_argument("--epochs", type=int, default=DEFAULTS.num_epochs, help="default: %(default)s")
    p.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size, help="default: %(default)s")
    p.add_argument("--lr", type=float, default=DEFAULTS.learning_rate, help="Adam learning rate (default: %(default)s)")
    p.add_argument("--seed", type=int, default=DEFAULTS.seed, help="default: %(default)s")
    p.add_argument("--hidden-size", type=int, default=DEFAULTS.hidden_size, help="default: %(default)s")
    p.add_argument("--norm", choices=NORMS, default=DEFAULTS.norm,
                   help="minmax (Burn's method) and standard fit on the train split; none; batch-minmax is the "
                        "bug of normalizing each batch by itself (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_data_args(p)
    p.set_defaults(run=_train)

    p = sub.add_parser("infer", help="predict test rows with the trained model and chart predicted vs expected")
    p.add_argument("--samples", type=int, default=1000, help="test rows to predict (default: %(default)s)")
    p.add_argument("--plot", metavar="FILE.png", help="also write the chart as a PNG (needs the 'plot' extra)")
    p.add_argument("--no-chart", action="store_true", help="skip the terminal chart")
    _add_data_args(p)
    p.set_defaults(run=_infer)
