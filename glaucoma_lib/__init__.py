"""Glaucoma screening on G1020 fundus photographs with a CNN written from scratch in NumPy."""

from glaucoma_lib.data import load_glaucoma
from glaucoma_lib.network import (
    DeepConvNet,
    NetworkConfig,
    WeightsError,
    build_network,
    load_network,
)
from glaucoma_lib.optim import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop
from glaucoma_lib.params import ParameterError, check_params
from glaucoma_lib.predict import predict as predict  # re-export: glaucoma_lib.predict(...)
from glaucoma_lib.records import list_runs, read_run_record, write_run_record
from glaucoma_lib.train import History, Trainer

__all__ = [
    "load_glaucoma",
    "DeepConvNet", "NetworkConfig", "WeightsError", "build_network", "load_network",
    "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam", "History", "Trainer",
    "check_params", "ParameterError", "list_runs", "read_run_record", "write_run_record",
]
