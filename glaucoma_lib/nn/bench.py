"""Speed of the NumPy CNN: `python -m glaucoma_lib.nn.bench [--quick]` prints JSON.

Measures the default DeepConvNet at 64x64, batch 50, float32, Adam: training throughput
(forward + backward + update) and seconds per 800-image epoch, inference throughput, seconds
per layer forward and backward, and the machine's float32 GEMM GFLOP/s as a roofline.
Every number is the best of several repeats, because other processes share the cores.
When PyTorch happens to be importable, the same network is also trained in PyTorch (2 threads)
in alternation with the NumPy one, and the ratio of the two epoch times is reported; torch is
never a dependency of the project, and without it those entries are simply absent.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_info

from glaucoma_lib.nn.network import DeepConvNet, NetworkConfig, build_network
from glaucoma_lib.nn.optim import Adam

BATCH, EPOCH_IMAGES = 50, 800


def _best_seconds(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def gemm_gflops(n: int = 2000, repeats: int = 5) -> float:
    """float32 n x n matrix product, the best case for BLAS: an upper bound for the CNN."""
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    return 2 * n**3 / _best_seconds(lambda: a @ a, repeats) / 1e9


def _batch(seed: int, n: int = BATCH, config: NetworkConfig | None = None):
    rng = np.random.default_rng(seed)
    shape = (config or NetworkConfig()).input_dim
    return rng.random((n, *shape), dtype=np.float32), rng.integers(0, 2, n)


def layer_times(
    network: DeepConvNet | None = None, repeats: int = 3, seed: int = 0
) -> pd.DataFrame:
    """Seconds per layer for one training batch: forward (train mode) and backward."""
    net = network or DeepConvNet()
    x, t = _batch(seed, config=net.config)
    forward = {s.name: float("inf") for s in net.slots}
    backward = dict(forward)
    for _ in range(repeats):
        h = np.asarray(x, net.dtype)
        for slot in net.slots:
            layer, start = slot.layer, time.perf_counter()
            h = layer.forward(h, True)
            forward[slot.name] = min(forward[slot.name], time.perf_counter() - start)
        net.last_layer.forward(h, t)
        dout = net.last_layer.backward(1.0)
        for slot in reversed(net.slots[1:]):  # as in gradient(): conv1 skips its input gradient
            start = time.perf_counter()
            dout = slot.layer.backward(dout)
            backward[slot.name] = min(backward[slot.name], time.perf_counter() - start)
    frame = pd.DataFrame({"forward_s": forward, "backward_s": backward})
    frame.loc["ChannelsLast", "backward_s"] = 0.0
    frame.index.name = "layer"
    return frame


def training_seconds_per_epoch(repeats: int = 3, iterations: int = 16, seed: int = 0) -> float:
    """Seconds for EPOCH_IMAGES images of gradient + Adam update, best of `repeats` runs."""
    net, opt = build_network(NetworkConfig(seed=seed)), Adam(lr=0.001)
    x, t = _batch(seed, n=EPOCH_IMAGES)
    batches = [(x[i : i + BATCH], t[i : i + BATCH]) for i in range(0, EPOCH_IMAGES, BATCH)]
    opt.update(net.params, net.gradient(*batches[0]))  # warm-up: allocations, BLAS threads

    def run():
        for xb, tb in batches[:iterations]:
            opt.update(net.params, net.gradient(xb, tb))

    return _best_seconds(run, repeats) * len(batches) / min(iterations, len(batches))


def torch_epoch_runner(seed: int = 0, iterations: int = 16):
    """A function timing one PyTorch epoch of the same network, or None without torch.

    Same architecture as DeepConvNet's default config (NCHW, 3x3 convs with the same pads,
    2x2 max pooling, affine-relu-dropout-affine-dropout), float32, batch 50, Adam lr 0.001,
    cross-entropy, torch.set_num_threads(2). The input needs no gradient, so, as in the NumPy
    network, the first convolution computes no input gradient.
    """
    try:
        import torch
        from torch import nn
    except ImportError:
        return None
    torch.set_num_threads(2)
    torch.manual_seed(seed)
    cfg = NetworkConfig(seed=seed)
    c, h, w = cfg.input_dim
    k, modules = cfg.kernel_size, []
    for i, (out_c, pad) in enumerate(zip(cfg.channels, cfg.pads, strict=True), start=1):
        modules += [nn.Conv2d(c, out_c, k, padding=pad), nn.ReLU()]
        c, h, w = out_c, h + 2 * pad - k + 1, w + 2 * pad - k + 1
        if i % 2 == 0:
            modules.append(nn.MaxPool2d(2, 2))
            h, w = h // 2, w // 2
    modules += [nn.Flatten(), nn.Linear(c * h * w, cfg.hidden_size), nn.ReLU(),
                nn.Dropout(cfg.dropout_ratio), nn.Linear(cfg.hidden_size, cfg.output_size),
                nn.Dropout(cfg.dropout_ratio)]
    model = nn.Sequential(*modules).train()
    opt, loss_fn = torch.optim.Adam(model.parameters(), lr=0.001), nn.CrossEntropyLoss()
    x, t = _batch(seed, n=EPOCH_IMAGES)
    batches = [(torch.from_numpy(x[i : i + BATCH]), torch.from_numpy(t[i : i + BATCH]))
               for i in range(0, EPOCH_IMAGES, BATCH)]

    def step(xb, tb):
        opt.zero_grad()
        loss_fn(model(xb), tb).backward()
        opt.step()

    step(*batches[0])  # warm-up

    def run() -> float:
        start = time.perf_counter()
        for xb, tb in batches[:iterations]:
            step(xb, tb)
        return (time.perf_counter() - start) * len(batches) / min(iterations, len(batches))

    return run


def numpy_epoch_runner(seed: int = 0, iterations: int = 16):
    """A function timing one NumPy epoch, as training_seconds_per_epoch does."""
    net, opt = build_network(NetworkConfig(seed=seed)), Adam(lr=0.001)
    x, t = _batch(seed, n=EPOCH_IMAGES)
    batches = [(x[i : i + BATCH], t[i : i + BATCH]) for i in range(0, EPOCH_IMAGES, BATCH)]
    opt.update(net.params, net.gradient(*batches[0]))

    def run() -> float:
        start = time.perf_counter()
        for xb, tb in batches[:iterations]:
            opt.update(net.params, net.gradient(xb, tb))
        return (time.perf_counter() - start) * len(batches) / min(iterations, len(batches))

    return run


def torch_comparison(repeats: int = 5, iterations: int = 16, seed: int = 0) -> dict | None:
    """Median epoch seconds of NumPy and PyTorch, measured in alternation (NumPy, torch,
    NumPy, ...) so drifting machine load hits both alike; None when torch is not importable."""
    torch_run = torch_epoch_runner(seed, iterations)
    if torch_run is None:
        return None
    numpy_run = numpy_epoch_runner(seed, iterations)
    pairs = [(numpy_run(), torch_run()) for _ in range(repeats)]
    numpy_s = float(np.median([p[0] for p in pairs]))
    torch_s = float(np.median([p[1] for p in pairs]))
    ratios = [a / b for a, b in pairs]
    return {"numpy_seconds_per_epoch": numpy_s, "torch_seconds_per_epoch": torch_s,
            "numpy_over_torch": numpy_s / torch_s,
            "numpy_over_torch_paired_median": float(np.median(ratios)), "pairs": repeats}


def ratio_line(comparison: dict | None) -> str:
    """The one line a reader looks for: both epoch times and their ratio, or why there is none."""
    if comparison is None:
        return "PyTorch comparison skipped: torch is not installed (it is never a dependency)."
    return (f"NumPy {comparison['numpy_seconds_per_epoch'] * 1000:.0f} ms/epoch, "
            f"PyTorch {comparison['torch_seconds_per_epoch'] * 1000:.0f} ms/epoch: "
            f"ratio {comparison['numpy_over_torch']:.2f} "
            f"(per-pair median {comparison['numpy_over_torch_paired_median']:.2f})")


def inference_images_per_second(repeats: int = 3, seed: int = 0) -> float:
    net = DeepConvNet()
    x, _ = _batch(seed, n=EPOCH_IMAGES)
    net.predict_proba(x[:100])
    return EPOCH_IMAGES / _best_seconds(lambda: net.predict_proba(x, batch_size=100), repeats)


def blas_info() -> list[dict]:
    keys = ("internal_api", "version", "num_threads", "architecture", "threading_layer")
    return [{k: d.get(k) for k in keys} for d in threadpool_info() if d.get("user_api") == "blas"]


def run_benchmark(quick: bool = False, seed: int = 0) -> dict:
    """All numbers as one JSON-able dict; quick=True takes seconds instead of a minute."""
    repeats = 1 if quick else 2  # best of two: the notebook runs alone, on the critical path
    epoch_s = training_seconds_per_epoch(repeats, iterations=4 if quick else 16, seed=seed)
    layers = layer_times(repeats=repeats, seed=seed)
    return {
        "network": "DeepConvNet default (3x64x64), float32, batch 50, Adam",
        "train_images_per_s": EPOCH_IMAGES / epoch_s,
        "train_seconds_per_800_image_epoch": epoch_s,
        "inference_images_per_s": inference_images_per_second(repeats, seed),
        "layer_seconds": {
            name: {"forward": row.forward_s, "backward": row.backward_s}
            for name, row in layers.iterrows()
        },
        "gemm_float32_gflops": gemm_gflops(1000 if quick else 2000, repeats),
        "torch_comparison": torch_comparison(1 if quick else 5, 4 if quick else 16, seed),
        "numpy": np.__version__,
        "blas": blas_info(),
        "cpu_count": os.cpu_count(),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
        "python": platform.python_version(),
        "quick": quick,
        "repeats": repeats,
    }


def benchmark_table(result: dict) -> pd.DataFrame:
    """The scalar results of run_benchmark as a two-column table for notebooks."""
    rows = {k: v for k, v in result.items() if not isinstance(v, dict | list)}
    rows["blas"] = ", ".join(f"{b['internal_api']} {b['version']} ({b['num_threads']} threads)"
                             for b in result["blas"])
    return pd.DataFrame({"value": pd.Series(rows, dtype=object)}).rename_axis("measure")


def layer_table(result: dict) -> pd.DataFrame:
    """Per-layer milliseconds (forward, backward) from run_benchmark, slowest first."""
    frame = pd.DataFrame(result["layer_seconds"]).T * 1000
    frame.columns = ["forward_ms", "backward_ms"]
    frame["total_ms"] = frame.sum(axis=1)
    return frame.sort_values("total_ms", ascending=False).rename_axis("layer")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, a few seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--torch-only", action="store_true",
                        help="only the NumPy vs PyTorch epoch comparison (needs torch)")
    parser.add_argument("--layers", action="store_true", help="print the per-layer table too")
    args = parser.parse_args(argv)
    if args.torch_only:
        print(ratio_line(torch_comparison(1 if args.quick else 5, seed=args.seed)))
        return
    result = run_benchmark(args.quick, args.seed)
    print(json.dumps(result, indent=2))
    if args.layers:
        print(layer_table(result).round(2).to_string())
    print(ratio_line(result["torch_comparison"]))


if __name__ == "__main__":
    main()
