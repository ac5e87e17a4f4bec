"""Burn's ``examples/simple-regression`` done right: California housing, 8 -> 64 -> ReLU -> 1,
Adam 1e-3, batch 256, 100 epochs, with the normalizer fitted once on the training split and
stored inside the model. Files mirror Burn's: ``dataset``, ``model``, ``training``, ``inference``."""

from .dataset import HousingDataset
from .inference import InferenceResult, infer
from .model import RegressionModel, RegressionModelConfig
from .training import TrainingConfig, TrainingResult, train

__all__ = ["HousingDataset", "InferenceResult", "RegressionModel", "RegressionModelConfig", "TrainingConfig",
           "TrainingResult", "infer", "train"]
