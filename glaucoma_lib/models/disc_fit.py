"""Fitting the disc models on training images: the disc CNN's training loop (class weights,
augmentation, cosine schedule, best epoch on a validation block) and each kind's fit, with
thresholds from validation data only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from glaucoma_lib import metrics
from glaucoma_lib.data import split
from glaucoma_lib.models.disc_model import (
    DiscCnnModel,
    DiscData,
    DiscModel,
    DiscModelConfig,
    TextureModel,
)
from glaucoma_lib.models.features import disc_features, pooled_responses
from glaucoma_lib.models.linear import fit_linear
from glaucoma_lib.nn.network import build_network
from glaucoma_lib.nn.train import Trainer


@dataclass(frozen=True)
class CosineSchedule:
    """Learning rate per epoch: cosine decay from ``lr`` to ~0, so late epochs fine-tune."""

    lr: float
    epochs: int

    def __call__(self, epoch: int) -> float:
        return 0.5 * self.lr * (1 + np.cos(np.pi * epoch / max(self.epochs, 1)))


def train_cnn(train: DiscData, val: DiscData | None, config: DiscModelConfig, seed: int = 0,
              verbose: bool = False):
    """Train the disc CNN; with ``val`` the epoch with the best validation AUC is kept.

    Returns (network, history). Class weights counter the 29% prevalence (unless balanced
    sampling is used), Adam with decoupled weight decay and a cosine learning-rate schedule.
    """
    pos_weight = (train.t == 0).sum() / max((train.t == 1).sum(), 1)
    network = build_network(config.network_config(pos_weight, seed))
    trainer = Trainer(
        network, train.x, train.t,
        x_val=None if val is None else val.x, t_val=None if val is None else val.t,
        epochs=config.epochs, mini_batch_size=config.batch_size, optimizer="Adam",
        optimizer_param={"lr": config.lr, "weight_decay": config.weight_decay,
                         "decoupled": True},
        seed=seed, verbose=verbose, scorer=metrics.roc_auc,
        augment=config.augmenter if config.augment else None,
        lr_schedule=CosineSchedule(config.lr, config.epochs),
        select_best_by=None if val is None else "val_auc",
        balanced_sampling=config.balanced_sampling,
    )
    history = trainer.train()
    return network, history


def texture_oof(feats: np.ndarray, t: np.ndarray, c: float, k: int = 5) -> np.ndarray:
    """Out-of-fold probabilities of the texture logistic regression, blocked k-fold."""
    oof = np.empty(len(t))
    for tr, te in split.blocked_folds(len(t), k):
        oof[te] = fit_linear(feats[tr], t[tr], c).predict_proba(feats[te])
    return oof


def fit_texture(train: DiscData, config: DiscModelConfig) -> tuple[TextureModel, np.ndarray]:
    """The texture model fitted on all of ``train``, and its blocked out-of-fold probabilities."""
    kernels, dilations = config.texture().kernels()
    feats = pooled_responses(train.x, kernels, dilations)
    scorer = fit_linear(feats, train.t, config.texture_c)
    return (TextureModel(config, kernels, dilations, scorer),
            texture_oof(feats, train.t, config.texture_c))


def fit_disc_cnn(train: DiscData, config: DiscModelConfig, seed: int = 0,
                 verbose: bool = False) -> tuple[DiscCnnModel, DiscData, dict]:
    """The CNN (and stack) fitted on the first 80% of ``train``; the last contiguous 20% block
    picks the CNN's epoch and fits the stacker. Returns (model, that block, training history)."""
    tr_idx, val_idx = split.validation_block(len(train.t))
    fit, val = train.subset(tr_idx), train.subset(val_idx)
    network, history = train_cnn(fit, val, config, seed, verbose)
    model = DiscCnnModel(config, network)
    if config.scorer == "stack":
        model.texture_scorer = fit_linear(config.texture()(fit.x), fit.t, config.texture_c)
    if config.stack_features:
        model.feature_scorer = fit_linear(disc_features(fit.x, fit.locations), fit.t)
    if config.stack_features or config.scorer == "stack":
        model.stacker = fit_linear(model.stack_inputs(val.x, val.locations), val.t, c=1.0)
    return model, val, history


def fit_model(train: DiscData, config: DiscModelConfig, seed: int = 0,
              verbose: bool = False) -> tuple[DiscModel, dict]:
    """Fit the model ``config.scorer`` names on the training images; returns (model, validation
    metrics, plus "history" for a CNN).

    The texture model (kernel bank drawn from ``seed``) is fitted on all the training images;
    its threshold and validation numbers come from blocked 5-fold out-of-fold predictions. The
    CNN kinds hold out the last contiguous 20% block for the epoch, the stacker and the
    threshold. Thresholds maximise Youden's J.
    """
    config = replace(config, texture_seed=seed)
    if config.scorer == "texture":
        model, p_val = fit_texture(train, config)
        y_val, extra = train.t, {}
    else:
        model, val, history = fit_disc_cnn(train, config, seed, verbose)
        y_val, p_val = val.t, model.predict_proba(val.x, val.locations)
        extra = {"history": history}
    model.threshold = metrics.threshold_youden(y_val, p_val)
    val_metrics = {"val_auc": metrics.roc_auc(y_val, p_val), "threshold": model.threshold,
                   "val_brier": metrics.brier_score(y_val, p_val)}
    model.metadata.update(seed=seed, validation=val_metrics)
    return model, {**val_metrics, **extra}
