"""The improved model: random-kernel texture features of tight optic-disc crops with a logistic
regression, beside a small BatchNorm CNN on the same crops, for a small imbalanced set.

Choices are made on contiguous image-number blocks of the 800 training images only (the test
split is touched once, for the report). ``ImprovedConfig.scorer`` says what gives the final
probability: the CNN, the texture model, or a logistic-regression stack of both; blocked CV on
the training images chose the texture model (every CNN variant scored chance there).
A disc-feature logistic regression (non-deep baseline) sits beside them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from glaucoma_lib import metrics, split
from glaucoma_lib.augment import Augmenter
from glaucoma_lib.data import PROJECT_ROOT, data_checksum, read_labels
from glaucoma_lib.disc import load_disc_crops, smooth
from glaucoma_lib.features import RandomKernelFeatures
from glaucoma_lib.network import DeepConvNet, NetworkConfig, build_network, load_network

WEIGHTS_PATH = PROJECT_ROOT / "glaucoma_lib" / "weights" / "final.npz"
SCORERS = ("cnn", "texture", "stack")


@dataclass(frozen=True)
class ImprovedConfig:
    """Every knob of the improved pipeline; stored in run records and in the weight file."""

    crop_size: int = 96  # disc crop side in pixels of the 512x512 image
    input_size: int = 32  # network input side (the crop is resized to it)
    channels: tuple[int, ...] = (8, 8, 16, 16, 32, 32)
    hidden_size: int = 32
    dropout_ratio: float = 0.3
    epochs: int = 12
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    augment: bool = True
    balanced_sampling: bool = False
    stack_features: bool = False  # combine CNN logit with the disc-feature model
    scorer: str = "texture"  # final probability from: "cnn", "texture" or "stack" (both)
    texture_kernels: int = 150
    texture_c: float = 0.001  # inverse L2 strength of the texture logistic regression
    texture_seed: int = 0  # kernel bank; fit_model sets it to the training seed
    augmenter: Augmenter = field(default_factory=Augmenter)

    def __post_init__(self):
        if self.scorer not in SCORERS:
            raise ValueError(f"scorer must be one of {SCORERS}, got {self.scorer!r}")

    def texture(self) -> RandomKernelFeatures:
        return RandomKernelFeatures(n_kernels=self.texture_kernels, seed=self.texture_seed)

    def network_config(self, pos_weight: float, seed: int) -> NetworkConfig:
        return NetworkConfig(
            input_dim=(3, self.input_size, self.input_size), channels=tuple(self.channels),
            pads=(1,) * len(self.channels), hidden_size=self.hidden_size, batchnorm=True,
            final_dropout=False, dropout_ratio=self.dropout_ratio,
            class_weights=None if self.balanced_sampling else (1.0, float(pos_weight)), seed=seed,
        )

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ImprovedConfig:
        d = dict(d)
        d["channels"] = tuple(d["channels"])
        d["augmenter"] = Augmenter(**d.get("augmenter", {}))
        d.setdefault("scorer", "cnn")  # weight files from before the texture model
        return cls(**d)


# ---------------------------------------------------------------------------- data


@dataclass
class DiscData:
    """Disc crops (float32 in [0, 1]) with labels, IDs and locations, sorted by image number."""

    x: np.ndarray
    t: np.ndarray
    ids: list[str]
    locations: pd.DataFrame

    def subset(self, idx: np.ndarray) -> DiscData:
        return DiscData(self.x[idx], self.t[idx], [self.ids[i] for i in idx],
                        self.locations.iloc[idx].reset_index(drop=True))


def load_disc_data(data_dir: str | Path, config: ImprovedConfig) -> tuple[DiscData, DiscData]:
    """(train, test) of the original 800/220 split, as disc crops at the network's input size."""
    labels = read_labels(data_dir)
    ids = split.sort_by_image_number(labels["imageID"])
    crops, table = load_disc_crops(data_dir, ids, config.crop_size, config.input_size)
    label_of = dict(zip(labels["imageID"], labels["binaryLabels"], strict=True))
    t = np.array([label_of[i] for i in ids], dtype=np.int64)
    everything = DiscData(crops.astype(np.float32) / 255.0, t, ids, table)
    train_ids, _ = split.original_split(ids)
    n_train = len(train_ids)
    return everything.subset(np.arange(n_train)), everything.subset(np.arange(n_train, len(ids)))


# ---------------------------------------------------------------------------- disc features

FEATURE_NAMES = (
    [f"{region}_{stat}_{c}" for region in ("centre", "disc", "ring") for stat in ("mean", "std")
     for c in "rgb"]
    + [f"pallor_{c}" for c in "rgb"] + [f"disc_ring_ratio_{c}" for c in "rgb"]
    + ["lum_q50", "lum_q90", "lum_q99", "bright_fraction", "vessels_disc", "vessels_ring",
       "edges_centre", "edges_disc", "edges_ring", "disc_radius", "disc_confidence"]
)


def disc_features(x: np.ndarray, locations: pd.DataFrame) -> np.ndarray:
    """Hand-made features of disc crops (N, 3, S, S) in [0, 1], vectorised: (N, len(FEATURE_NAMES)).

    Colour statistics of the disc centre (where a glaucomatous cup is pale), the disc and the
    surrounding ring; centre/ring brightness (pallor); fraction of very bright pixels; vessel
    and edge density; the detected disc radius and detector confidence.
    """
    n, _, h, w = x.shape
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot(yy - (h - 1) / 2, xx - (w - 1) / 2) / (h / 2)
    centre, disc, ring = r < 0.25, r < 0.45, (r >= 0.45) & (r < 0.9)
    parts = []
    for m in (centre, disc, ring):
        v = x[:, :, m]
        parts += [v.mean(axis=2), v.std(axis=2)]
    ring_mean = x[:, :, ring].mean(axis=2) + 1e-3
    parts += [x[:, :, centre].mean(axis=2) / ring_mean, x[:, :, disc].mean(axis=2) / ring_mean]
    lum = x.mean(axis=1)
    flat = lum.reshape(n, -1)
    parts.append(np.quantile(flat, [0.5, 0.9, 0.99], axis=1).T)
    top = np.quantile(flat, 0.95, axis=1)[:, None, None]
    parts.append((((lum > top) & disc).sum(axis=(1, 2)) / disc.sum())[:, None])
    green = x[:, 1]
    vessels = np.maximum(smooth(green, max(1, h // 32)) - green, 0)
    parts.append(np.stack([vessels[:, disc].mean(axis=1), vessels[:, ring].mean(axis=1)], 1))
    gy, gx = np.gradient(lum, axis=(1, 2))
    edges = np.hypot(gx, gy)
    parts.append(np.stack([edges[:, m].mean(axis=1) for m in (centre, disc, ring)], 1))
    parts.append(locations[["radius", "confidence"]].to_numpy(np.float32))
    return np.concatenate([p.reshape(n, -1) for p in parts], axis=1).astype(np.float32)


@dataclass
class LinearScorer:
    """Standardise-then-logistic model stored as plain arrays (no pickles in weight files)."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def logit(self, features: np.ndarray) -> np.ndarray:
        return ((features - self.mean) / self.scale) @ self.coef + self.intercept

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logit(features)))

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": self.coef.tolist(), "intercept": float(self.intercept)}

    @classmethod
    def from_dict(cls, d: dict) -> LinearScorer:
        return cls(np.asarray(d["mean"], np.float64), np.asarray(d["scale"], np.float64),
                   np.asarray(d["coef"], np.float64), float(d["intercept"]))


def fit_linear(features: np.ndarray, t: np.ndarray, c: float = 0.01) -> LinearScorer:
    """Class-balanced L2 logistic regression (scikit-learn), strongly regularised: few samples."""
    from sklearn.linear_model import LogisticRegression

    mean = features.mean(axis=0)
    scale = features.std(axis=0) + 1e-6
    model = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
    model.fit((features - mean) / scale, t)
    return LinearScorer(mean, scale, model.coef_[0].astype(np.float64), float(model.intercept_[0]))


# ---------------------------------------------------------------------------- the CNN


@dataclass(frozen=True)
class CosineSchedule:
    """Learning rate per epoch: cosine decay from ``lr`` to ~0, so late epochs fine-tune."""

    lr: float
    epochs: int

    def __call__(self, epoch: int) -> float:
        return 0.5 * self.lr * (1 + np.cos(np.pi * epoch / max(self.epochs, 1)))


def train_cnn(train: DiscData, val: DiscData | None, config: ImprovedConfig, seed: int = 0,
              verbose: bool = False):
    """Train the disc CNN; with ``val`` the epoch with the best validation AUC is kept.

    Returns (network, history). Class weights counter the 29% prevalence (unless balanced
    sampling is used), Adam with decoupled weight decay and a cosine learning-rate schedule.
    """
    from glaucoma_lib.train import Trainer

    pos_weight = (train.t == 0).sum() / max((train.t == 1).sum(), 1)
    network = build_network(config.network_config(pos_weight, seed))
    trainer = Trainer(
        network, train.x, train.t,
        x_val=None if val is None else val.x, t_val=None if val is None else val.t,
        epochs=config.epochs, mini_batch_size=config.batch_size, optimizer="Adam",
        optimizer_param={"lr": config.lr, "weight_decay": config.weight_decay,
                         "decoupled": True},
        seed=seed, verbose=verbose,
        augment=config.augmenter if config.augment else None,
        lr_schedule=CosineSchedule(config.lr, config.epochs),
        select_best_by=None if val is None else "val_auc",
        balanced_sampling=config.balanced_sampling,
    )
    history = trainer.train()
    return network, history


def cnn_scores(network: DeepConvNet, x: np.ndarray) -> np.ndarray:
    """Glaucoma probability of each crop."""
    return network.predict_proba(x)[:, 1]


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


@dataclass
class ImprovedModel:
    """CNN, texture model and optional disc-feature scorer, combined as ``config.scorer`` says,
    with its decision threshold."""

    network: DeepConvNet
    config: ImprovedConfig
    threshold: float = 0.5
    feature_scorer: LinearScorer | None = None
    stacker: LinearScorer | None = None
    metadata: dict = field(default_factory=dict)
    texture_scorer: LinearScorer | None = None

    def stack_inputs(self, x: np.ndarray, locations: pd.DataFrame) -> np.ndarray:
        """Logits the stacker combines: CNN, then disc features and texture when in use."""
        cols = [_logit(cnn_scores(self.network, x))]
        if self.feature_scorer is not None:
            cols.append(self.feature_scorer.logit(disc_features(x, locations)))
        if self.config.scorer == "stack":
            cols.append(self.texture_scorer.logit(self.config.texture()(x)))
        return np.stack(cols, axis=1)

    def predict_proba(self, x: np.ndarray, locations: pd.DataFrame) -> np.ndarray:
        if self.config.scorer == "texture":
            return self.texture_scorer.predict_proba(self.config.texture()(x))
        if self.stacker is None:
            return cnn_scores(self.network, x)
        return self.stacker.predict_proba(self.stack_inputs(x, locations))

    def save(self, path: str | Path, extra: dict | None = None) -> Path:
        scorer = self.feature_scorer
        meta = {
            "improved_config": self.config.to_dict(), "threshold": float(self.threshold),
            "feature_scorer": None if scorer is None else scorer.to_dict(),
            "stacker": None if self.stacker is None else self.stacker.to_dict(),
            "texture_scorer": None if self.texture_scorer is None
            else self.texture_scorer.to_dict(),
            **self.metadata, **(extra or {}),
        }
        return self.network.save_params(path, extra_metadata=json.loads(json.dumps(meta)))


def load_model(path: str | Path | None = None) -> ImprovedModel:
    """Load an ImprovedModel weight file (default: the committed final model)."""
    from glaucoma_lib.network import _read_json_member

    path = Path(path) if path is not None else WEIGHTS_PATH
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weight file")
    network = load_network(path)
    meta = _read_json_member(path, "__meta__") or {}
    if "improved_config" not in meta:
        raise ValueError(f"{path}: not an improved-model weight file (no improved_config)")
    scorers = {k: LinearScorer.from_dict(meta[k]) if meta.get(k) else None
               for k in ("feature_scorer", "stacker", "texture_scorer")}
    config = ImprovedConfig.from_dict(meta["improved_config"])
    if config.scorer != "cnn" and scorers["texture_scorer"] is None:
        raise ValueError(f"{path}: scorer {config.scorer!r} but no texture_scorer stored")
    return ImprovedModel(
        network, config, float(meta["threshold"]), scorers["feature_scorer"],
        scorers["stacker"],
        {k: v for k, v in meta.items() if k not in ("improved_config", "threshold", *scorers)},
        scorers["texture_scorer"],
    )


def fit_model(train: DiscData, config: ImprovedConfig, seed: int = 0,
              verbose: bool = False) -> tuple[ImprovedModel, dict]:
    """Fit on the 800 training images: last contiguous 20% block for the CNN's epoch, stacking
    weights and the threshold (Youden on validation). Returns (model, val metrics).

    The texture model (``scorer="texture"``) uses its own kernel bank per seed and needs no
    epoch choice, so its logistic regression is fitted on all the training images, and its
    threshold and validation numbers come from out-of-fold predictions of blocked 5-fold CV
    inside them (``texture_oof``), which wastes no images on a single held-out block.
    """
    tr_idx, val_idx = split.validation_block(len(train.t))
    fit, val = train.subset(tr_idx), train.subset(val_idx)
    config = replace(config, texture_seed=seed)
    network, history = train_cnn(fit, val, config, seed, verbose)
    model = ImprovedModel(network, config)
    if config.scorer == "texture":
        feats = config.texture()(train.x)
        model.texture_scorer = fit_linear(feats, train.t, config.texture_c)
        y_val, p_val = train.t, texture_oof(feats, train.t, config.texture_c)
    else:
        if config.scorer == "stack":
            model.texture_scorer = fit_linear(config.texture()(fit.x), fit.t, config.texture_c)
        if config.stack_features:
            model.feature_scorer = fit_linear(disc_features(fit.x, fit.locations), fit.t)
        if config.stack_features or config.scorer == "stack":
            model.stacker = fit_linear(model.stack_inputs(val.x, val.locations), val.t, c=1.0)
        y_val, p_val = val.t, model.predict_proba(val.x, val.locations)
    model.threshold = metrics.threshold_youden(y_val, p_val)
    val_metrics = {"val_auc": metrics.roc_auc(y_val, p_val), "threshold": model.threshold,
                   "val_brier": metrics.brier_score(y_val, p_val)}
    model.metadata.update(seed=seed, validation=val_metrics)
    return model, {**val_metrics, "history": history}


# ---------------------------------------------------------------------------- evaluation


def cross_validate(data: DiscData, config: ImprovedConfig, folds: list, seed: int = 0,
                   verbose: bool = False) -> tuple[pd.DataFrame, np.ndarray]:
    """Per-fold AUCs and out-of-fold probabilities; each fold's model selected on an inner
    contiguous block of its own training part (fit_model), never on the held-out fold."""
    oof = np.full(len(data.t), np.nan)
    rows = []
    for k, (tr, te) in enumerate(folds):
        model, val = fit_model(data.subset(tr), config, seed, verbose)
        held = data.subset(te)
        oof[te] = model.predict_proba(held.x, held.locations)
        rows.append({"fold": k, "n": len(te), "glaucoma": int(held.t.sum()),
                     "auc": metrics.roc_auc(held.t, oof[te]), "inner_val_auc": val["val_auc"]})
    return pd.DataFrame(rows), oof


def baseline_cross_validate(data: DiscData, folds: list, c: float = 0.01) -> pd.DataFrame:
    """The non-deep baseline (disc-feature logistic regression) on the same folds."""
    feats = disc_features(data.x, data.locations)
    rows = []
    for k, (tr, te) in enumerate(folds):
        p = fit_linear(feats[tr], data.t[tr], c).predict_proba(feats[te])
        rows.append({"fold": k, "auc": metrics.roc_auc(data.t[te], p)})
    return pd.DataFrame(rows)


def texture_oof(feats: np.ndarray, t: np.ndarray, c: float, k: int = 5) -> np.ndarray:
    """Out-of-fold probabilities of the texture logistic regression, blocked k-fold."""
    oof = np.empty(len(t))
    for tr, te in split.blocked_folds(len(t), k):
        oof[te] = fit_linear(feats[tr], t[tr], c).predict_proba(feats[te])
    return oof


def texture_cross_validate(data: DiscData, folds: list, config: ImprovedConfig) -> pd.DataFrame:
    """Texture-model AUC per fold (features computed once; seconds, no CNN training)."""
    feats = config.texture()(data.x)
    rows = []
    for k, (tr, te) in enumerate(folds):
        p = fit_linear(feats[tr], data.t[tr], config.texture_c).predict_proba(feats[te])
        rows.append({"fold": k, "auc": metrics.roc_auc(data.t[te], p)})
    return pd.DataFrame(rows)


def ideas_table(data_dir: str | Path, crop_sizes: tuple[int, ...] = (160, 96, 64),
                k: int = 5) -> pd.DataFrame:
    """Blocked k-fold CV AUC (800 training images only) of the fast ideas: hand-made disc
    features and random-kernel texture features at several crop sizes, each with a logistic
    regression. The CNN variants are in the sweep table (too slow for the report build)."""
    rows = []
    for crop in crop_sizes:
        config = with_overrides(ImprovedConfig(), crop_size=crop)
        train, _ = load_disc_data(data_dir, config)
        folds = split.blocked_folds(len(train.t), k)
        for idea, table in ((f"disc colour/texture statistics + LR, crop {crop}",
                             baseline_cross_validate(train, folds)),
                            (f"random-kernel texture + LR, crop {crop}",
                             texture_cross_validate(train, folds, config))):
            rows.append({"idea": idea, "cv_auc_mean": table["auc"].mean(),
                         "cv_auc_std": table["auc"].std(ddof=1),
                         "fold_aucs": " ".join(f"{a:.3f}" for a in table["auc"])})
    return pd.DataFrame(rows)


def all_data(train: DiscData, test: DiscData) -> DiscData:
    """The 1020 images in image-number order (for 5-fold CV over everything)."""
    return DiscData(np.concatenate([train.x, test.x]), np.concatenate([train.t, test.t]),
                    train.ids + test.ids,
                    pd.concat([train.locations, test.locations], ignore_index=True))


def export_final(model: ImprovedModel, data_dir: str | Path, path: str | Path | None = None,
                 extra: dict | None = None) -> Path:
    """Write the chosen model to glaucoma_lib/weights/final.npz (what predict uses by default),
    with the data checksum, threshold and validation metrics it was chosen by."""
    path = Path(path) if path is not None else WEIGHTS_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    return model.save(path, {"data_checksum": data_checksum(data_dir), **(extra or {})})


def with_overrides(config: ImprovedConfig, **overrides) -> ImprovedConfig:
    """A copy of config with some fields changed (for sweeps and quick runs)."""
    return replace(config, **overrides)


# ---------------------------------------------------------------------------- study runs


def test_summary(y: np.ndarray, prob: np.ndarray, threshold: float, seed: int = 0) -> dict:
    """Screening numbers at a validation-chosen threshold, plus sensitivity at 80% specificity."""
    summary = metrics.screening_summary(y, prob, threshold)
    summary["sensitivity_at_80_specificity"] = metrics.sensitivity_at_specificity(y, prob, 0.8)
    if 0 < np.sum(y) < len(y):
        auc, low, high = metrics.bootstrap_ci(y, prob, metrics.roc_auc, seed=seed)
        summary.update(auc=auc, auc_ci_low=low, auc_ci_high=high)
    return summary


def train_seeds(train: DiscData, test: DiscData, config: ImprovedConfig, seeds: list[int],
                data_dir: str | Path, synthetic: bool, prefix: str = "improved") -> list[dict]:
    """Fit one model per seed on the 800 training images, score the test split once, and write
    models/<prefix>_seed<s>/ (weights.npz + run record with the test predictions)."""
    import time

    from glaucoma_lib.records import models_dir, read_run_record, write_run_record

    checksum = data_checksum(data_dir)
    out = []
    for seed in seeds:
        started = time.perf_counter()
        model, val = fit_model(train, config, seed)
        seconds = time.perf_counter() - started
        prob = model.predict_proba(test.x, test.locations)
        run_dir = models_dir() / f"{prefix}_seed{seed}"
        run_dir.mkdir(parents=True, exist_ok=True)
        model.save(run_dir / "weights.npz", {"data_checksum": checksum})
        history = val.pop("history")
        write_run_record(
            run_dir, config=config.to_dict(), seed=seed, data_checksum=checksum,
            metrics={"validation": val, "test": test_summary(test.t, prob, model.threshold, seed),
                     "predictions": {"image_id": test.ids, "label_true": test.t.tolist(),
                                     "prob_glaucoma": np.round(prob, 6).tolist()}},
            history=json.loads(history.to_json()), timings={"train_seconds": seconds},
            synthetic=synthetic, data_dir=data_dir,
            notes=f"improved model (scorer {config.scorer}) on disc crops; threshold, stacker "
                  "and CNN epoch chosen on the last 20% block "
                  "of the training images",
        )
        out.append(read_run_record(run_dir))
    return out


def baseline_run(train: DiscData, test: DiscData, c: float = 0.01) -> dict:
    """Non-deep baseline on the original split: disc-feature logistic regression fitted on the
    first 80% of the training images, threshold on the last 20% block, scored on the test split."""
    tr_idx, val_idx = split.validation_block(len(train.t))
    f_train = disc_features(train.x, train.locations)
    scorer = fit_linear(f_train[tr_idx], train.t[tr_idx], c)
    threshold = metrics.threshold_youden(train.t[val_idx], scorer.predict_proba(f_train[val_idx]))
    prob = scorer.predict_proba(disc_features(test.x, test.locations))
    return {"validation_auc": metrics.roc_auc(train.t[val_idx],
                                              scorer.predict_proba(f_train[val_idx])),
            "test": test_summary(test.t, prob, threshold), "prob": prob}


def seed_summary(records: list[dict]) -> pd.DataFrame:
    """Test metrics of each seed's run with mean and standard deviation rows."""
    keys = ["auc", "auc_ci_low", "auc_ci_high", "accuracy", "always_healthy_accuracy",
            "sensitivity", "specificity", "sensitivity_at_80_specificity", "brier", "threshold"]
    rows = {f"seed {r['seed']}": {k: r["metrics"]["test"].get(k, np.nan) for k in keys}
            for r in records}
    for r in records:
        rows[f"seed {r['seed']}"]["validation AUC"] = r["metrics"]["validation"]["val_auc"]
    frame = pd.DataFrame(rows).T
    stats = frame.agg(["mean", "std"])
    stats.index = ["mean", "std"]
    return pd.concat([frame, stats])


def choose_final(records: list[dict]) -> dict:
    """The seed whose model had the best validation AUC (test numbers play no part)."""
    return max(records, key=lambda r: r["metrics"]["validation"]["val_auc"])


def fold_study(data: DiscData, config: ImprovedConfig, seed: int = 0, k: int = 5) -> dict:
    """Blocked vs image-level random k-fold CV over the same images: the leakage study.

    Neighbouring image numbers are often the same eye, so a random split puts near-duplicates
    on both sides; the gap between the two AUCs is what leakage would add.
    """
    n = len(data.t)
    out = {}
    for name, folds in (("blocked", split.blocked_folds(n, k)),
                        ("random", split.random_folds(n, k, seed))):
        table, oof = cross_validate(data, config, folds, seed)
        base = baseline_cross_validate(data, folds)
        table["baseline_auc"] = base["auc"]
        out[name] = {"folds": table, "oof": oof,
                     "pooled_auc": metrics.roc_auc(data.t, oof)}
    return out


def fold_study_table(study: dict) -> pd.DataFrame:
    """Mean and spread of fold AUCs, blocked vs random, CNN and baseline."""
    rows = {}
    for name, res in study.items():
        f = res["folds"]
        rows[name] = {"model fold AUC mean": f["auc"].mean(),
                      "model fold AUC std": f["auc"].std(),
                      "model pooled out-of-fold AUC": res["pooled_auc"],
                      "baseline fold AUC mean": f["baseline_auc"].mean(),
                      "baseline fold AUC std": f["baseline_auc"].std()}
    frame = pd.DataFrame(rows).T
    frame.index.name = "split"
    return frame


# ---------------------------------------------------------------------------- explanations


def grad_cam(network: DeepConvNet, x: np.ndarray, class_index: int = 1) -> np.ndarray:
    """Grad-CAM heat maps (N, H, W) in [0, 1] at the input size: last conv features weighted by
    their average gradient, rectified and upsampled (nearest-neighbour repeat, then smoothed)."""
    feature, grad = network.feature_map_and_gradient(x, class_index)
    weights = grad.mean(axis=(2, 3), keepdims=True)
    cam = np.maximum((weights * feature).sum(axis=1), 0)
    h, w = x.shape[2:]
    factor = h // cam.shape[1]
    cam = smooth(np.repeat(np.repeat(cam, factor, axis=1), factor, axis=2)[:, :h, :w],
                 max(factor // 2, 1))
    peak = cam.max(axis=(1, 2), keepdims=True)
    return np.where(peak > 0, cam / np.maximum(peak, 1e-12), 0).astype(np.float32)


def saliency(network: DeepConvNet, x: np.ndarray, class_index: int = 1) -> np.ndarray:
    """|d logit / d pixel| maxed over colour channels, normalised per image: (N, H, W)."""
    g = np.abs(network.input_gradient(x, class_index)).max(axis=1)
    return g / np.maximum(g.max(axis=(1, 2), keepdims=True), 1e-12)


def explanation_figure(x: np.ndarray, maps: np.ndarray, captions: list[str], synthetic: bool,
                       title: str):
    """Crops with their heat maps overlaid, one column per case."""
    import matplotlib.pyplot as plt

    from glaucoma_lib.plots import data_title, to_display_image

    n = len(x)
    fig, axes = plt.subplots(2, max(n, 1), figsize=(1.9 * max(n, 1), 4.4), squeeze=False)
    for i in range(n):
        axes[0, i].imshow(to_display_image(x[i]))
        axes[1, i].imshow(to_display_image(x[i]))
        axes[1, i].imshow(maps[i], cmap="jet", alpha=0.45, vmin=0, vmax=1)
        axes[0, i].set_title(captions[i], fontsize=7)
    for ax in axes.ravel():
        ax.axis("off")
    fig.suptitle(data_title(title, synthetic), fontsize=10)
    fig.tight_layout()
    return fig


def run_weights(record: dict) -> Path:
    """Weight file of a run written by train_seeds."""
    from glaucoma_lib.records import models_dir

    return models_dir() / record["run"] / "weights.npz"
