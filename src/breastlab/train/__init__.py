"""breastlab.train: SpurBreast's training protocol on split folders, writing run folders (:mod:`breastlab.schemas`).

``train(TrainConfig(...))`` runs one trial; ``run_sweep(config)`` the grid; ``load_run_model`` and
``preprocess_eval`` give evaluation the selected model and its input transform.
"""

from breastlab.train.data import preprocess_eval, preprocess_train
from breastlab.train.loop import TrainConfig, TrainingDivergedError, TrainResult, load_run_model, train
from breastlab.train.methods import METHODS
from breastlab.transforms import random_resized_crop_boxes

__all__ = [
    "METHODS",
    "TrainConfig",
    "TrainResult",
    "TrainingDivergedError",
    "load_run_model",
    "preprocess_eval",
    "preprocess_train",
    "random_resized_crop_boxes",
    "train",
]
