"""Optimisers with the update rules of deep-learning-from-scratch (common/optimizer.py).

Each updates the params dict in place (update(params, grads)), has a settable `lr` for
schedules, optional weight decay, and state_dict()/load_state_dict() so training can resume
exactly. Weight decay touches weight matrices only (keys starting with "W"), not biases or
BatchNorm gamma/beta, unless decay_all=True (every parameter, as PyTorch's optimisers do by
default):
- decoupled=False: L2 penalty, weight_decay * W added to the gradient before the update;
- decoupled=True: W -= lr * weight_decay * W after the update (AdamW style).
"""

from __future__ import annotations

import numpy as np


def decays(key: str, decay_all: bool) -> bool:
    """Whether weight decay applies to the parameter named ``key``."""
    return decay_all or key.startswith("W")


def weight_decay(
    params: dict[str, np.ndarray], grads: dict[str, np.ndarray], rate: float,
    decay_all: bool = False,
) -> dict[str, np.ndarray]:
    """Gradients of loss + rate/2 * sum ||W||^2 (the L2 penalty) from those of the loss."""
    if rate == 0:
        return grads
    return {k: g + rate * params[k] if decays(k, decay_all) else g for k, g in grads.items()}


class Optimizer:
    """Common plumbing: weight decay and the state that a checkpoint must carry."""

    state_names: tuple[str, ...] = ()

    def __init__(self, lr: float, weight_decay: float = 0.0, decoupled: bool = False,
                 decay_all: bool = False):
        self.lr = lr
        self.weight_decay = weight_decay
        self.decoupled, self.decay_all = decoupled, decay_all
        self.iter = 0
        self.state: dict[str, dict[str, np.ndarray]] = {name: {} for name in self.state_names}

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        if not self.decoupled:
            grads = weight_decay(params, grads, self.weight_decay, self.decay_all)
        for name in self.state_names:
            for key, value in params.items():
                if key not in self.state[name]:
                    self.state[name][key] = np.zeros_like(value)
        self.iter += 1
        self._step(params, grads)
        if self.decoupled and self.weight_decay:
            for key, value in params.items():
                if decays(key, self.decay_all):
                    value -= self.lr * self.weight_decay * value

    def _step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def state_dict(self) -> tuple[dict, dict[str, np.ndarray]]:
        """(JSON-able scalars, arrays keyed "state/key") for checkpoints."""
        scalars = {"lr": self.lr, "iter": self.iter, "class": type(self).__name__}
        arrays = {f"{name}/{k}": v for name, d in self.state.items() for k, v in d.items()}
        return scalars, arrays

    def load_state_dict(self, scalars: dict, arrays: dict[str, np.ndarray]) -> None:
        if scalars["class"] != type(self).__name__:
            raise ValueError(
                f"optimizer state is for {scalars['class']}, not {type(self).__name__}"
            )
        self.lr, self.iter = scalars["lr"], scalars["iter"]
        self.state = {name: {} for name in self.state_names}
        for compound, value in arrays.items():
            name, key = compound.split("/", 1)
            self.state[name][key] = value.copy()


class SGD(Optimizer):
    def __init__(self, lr: float = 0.01, **kw):
        super().__init__(lr, **kw)

    def _step(self, params, grads):
        for key in params:
            params[key] -= self.lr * grads[key]


class Momentum(Optimizer):
    state_names = ("v",)

    def __init__(self, lr: float = 0.01, momentum: float = 0.9, **kw):
        super().__init__(lr, **kw)
        self.momentum = momentum

    def _step(self, params, grads):
        v = self.state["v"]
        for key in params:
            v[key] = self.momentum * v[key] - self.lr * grads[key]
            params[key] += v[key]


class Nesterov(Optimizer):
    """Nesterov's accelerated gradient (http://arxiv.org/abs/1212.0901), as in the original."""

    state_names = ("v",)

    def __init__(self, lr: float = 0.01, momentum: float = 0.9, **kw):
        super().__init__(lr, **kw)
        self.momentum = momentum

    def _step(self, params, grads):
        v = self.state["v"]
        for key in params:
            v[key] *= self.momentum
            v[key] -= self.lr * grads[key]
            params[key] += self.momentum * self.momentum * v[key]
            params[key] -= (1 + self.momentum) * self.lr * grads[key]


class AdaGrad(Optimizer):
    state_names = ("h",)

    def __init__(self, lr: float = 0.01, **kw):
        super().__init__(lr, **kw)

    def _step(self, params, grads):
        h = self.state["h"]
        for key in params:
            h[key] += grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(h[key]) + 1e-7)


class RMSprop(Optimizer):
    state_names = ("h",)

    def __init__(self, lr: float = 0.01, decay_rate: float = 0.99, **kw):
        super().__init__(lr, **kw)
        self.decay_rate = decay_rate

    def _step(self, params, grads):
        h = self.state["h"]
        for key in params:
            h[key] *= self.decay_rate
            h[key] += (1 - self.decay_rate) * grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(h[key]) + 1e-7)


class Adam(Optimizer):
    """Adam (http://arxiv.org/abs/1412.6980v8) with the original's bias-corrected step size."""

    state_names = ("m", "v")

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, **kw):
        super().__init__(lr, **kw)
        self.beta1, self.beta2 = beta1, beta2

    def _step(self, params, grads):
        m, v = self.state["m"], self.state["v"]
        lr_t = self.lr * (1.0 - self.beta2**self.iter) ** 0.5 / (1.0 - self.beta1**self.iter)
        for key in params:
            m[key] += (1 - self.beta1) * (grads[key] - m[key])
            v[key] += (1 - self.beta2) * (grads[key] ** 2 - v[key])
            params[key] -= lr_t * m[key] / (np.sqrt(v[key]) + 1e-7)


OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.__name__.lower(): cls for cls in (SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam)
}


def make_optimizer(name: str, **optimizer_param) -> Optimizer:
    """Optimiser by case-insensitive name, as the original Trainer's optimizer="Adam"."""
    try:
        return OPTIMIZERS[name.lower()](**optimizer_param)
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; choose from {sorted(OPTIMIZERS)}") from None
