"""Glaucoma screening on fundus photographs with a CNN written from scratch in NumPy."""

from glaucoma_lib.data import load_glaucoma
from glaucoma_lib.files import WeightsError
from glaucoma_lib.nn.network import DeepConvNet, NetworkConfig, build_network, load_network
from glaucoma_lib.nn.optim import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop
from glaucoma_lib.nn.train import History, Trainer
from glaucoma_lib.params import ParameterError, check_params
from glaucoma_lib.records import list_runs, read_run_record, write_run_record

__all__ = [
    "load_glaucoma",
    "DeepConvNet", "NetworkConfig", "WeightsError", "build_network", "load_network",
    "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam", "History", "Trainer",
    "check_params", "ParameterError", "list_runs", "read_run_record", "write_run_record",
]
