"""Burn's ``examples/simple-regression`` done right: California housing, 8 -> 64 -> ReLU -> 1,
Adam 1e-3, batch 256, 100 epochs, with the normalizer fitted once on the training split and
stored inside the model. Files mirror Burn's: ``dataset``, ``model``, ``training``, ``inference``;
``compare`` trains every normalization and optimizer side by side."""

from .compare import DEFAULT_RUNS, Run, compare
from .dataset import HousingDataset
from .inference import InferenceResult, infer, load_checkpoint
from .model import RegressionModel, RegressionModelConfig, RegressionOutput
from .training import TrainingConfig, TrainingInterrupted, TrainingResult, train

__all__ = ["DEFAULT_RUNS", "HousingDataset", "InferenceResult", "RegressionModel", "RegressionModelConfig",
           "RegressionOutput", "Run", "TrainingConfig", "TrainingInterrupted", "TrainingResult", "compare", "infer",
           "load_checkpoint", "train"]
