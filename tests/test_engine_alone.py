"""The engine (glaucoma_lib.nn) imports nothing else of the package: NumPy, threadpoolctl,
pandas (tables), tqdm (progress bar) and the standard library only."""

import os
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import glaucoma_lib.nn

ENGINE = sorted(m.name for m in pkgutil.iter_modules(glaucoma_lib.nn.__path__))
ROOT = Path(glaucoma_lib.nn.__file__).parents[2]

HIDDEN = textwrap.dedent(
    """
    import importlib, sys
    FOREIGN = ("PIL", "matplotlib", "scipy", "sklearn", "joblib", "dask", "papermill")

    class Refuse:
        def find_spec(self, name, path=None, target=None):
            inside = name in ("glaucoma_lib", "glaucoma_lib.nn") or name.startswith(
                "glaucoma_lib.nn.")
            if (name.startswith("glaucoma_lib") and not inside) or name.split(".")[0] in FOREIGN:
                raise ImportError(f"the engine imported {name}")
            return None

    sys.meta_path.insert(0, Refuse())
    for module in sys.argv[1:]:
        importlib.import_module(f"glaucoma_lib.nn.{module}")
    print(sorted(m for m in sys.modules if m.startswith("glaucoma_lib")))
    """
)


def run_hidden(*modules):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", HIDDEN, *modules], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_every_engine_module_imports_with_the_rest_of_the_package_hidden():
    assert {"network", "layers", "conv_layers", "optim", "train", "checkpoint", "weight_files",
            "validate", "bench"} <= set(ENGINE)
    result = run_hidden(*ENGINE)
    assert result.returncode == 0, result.stderr
    loaded = eval(result.stdout)  # noqa: S307 - our own subprocess's printed list
    assert all(m == "glaucoma_lib" or m.startswith("glaucoma_lib.nn") for m in loaded)


def test_the_guard_refuses_the_rest_of_the_package():
    """The finder works: importing anything outside nn fails the subprocess."""
    result = subprocess.run(
        [sys.executable, "-c", HIDDEN.replace("glaucoma_lib.nn.{module}", "{module}"),
         "glaucoma_lib.metrics"], env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT,
        capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "the engine imported glaucoma_lib.metrics" in result.stderr
