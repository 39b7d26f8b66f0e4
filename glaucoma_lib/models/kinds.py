"""Every model kind, read back from its weight file: the one entry point for `predict`.

A weight file's ``__meta__`` entry names its ``kind`` and ``format_version``; each kind's class
reads the rest. The committed models live in glaucoma_lib/weights/.
"""

from __future__ import annotations

from pathlib import Path

from glaucoma_lib.models.disc_model import FORMAT_VERSION, DiscCnnModel, TextureModel
from glaucoma_lib.models.gap_cnn import GapCnnModel
from glaucoma_lib.models.image_model import ImageCnnModel
from glaucoma_lib.nn.network import META_KEY
from glaucoma_lib.nn.weight_files import WeightsError, read_json_entry
from glaucoma_lib.paths import WEIGHTS_DIR, weights_file

WEIGHTS_PATH = WEIGHTS_DIR / "final.npz"  # the G1020 model `predict` uses by default
AIROGS_WEIGHTS_PATH = WEIGHTS_DIR / "airogs.npz"  # the positive control's texture model
AIROGS_CNN_WEIGHTS_PATH = WEIGHTS_DIR / "airogs_cnn.npz"  # the CNN that learns AIROGS


Model = TextureModel | DiscCnnModel | ImageCnnModel | GapCnnModel
MODEL_KINDS = {cls.kind: cls for cls in (TextureModel, DiscCnnModel, ImageCnnModel, GapCnnModel)}


def load_model(path: str | Path | None = None) -> Model:
    """Any model weight file (default: the committed final model, or the one the running report
    build wrote), dispatched on its ``kind``. Every problem, however the file is malformed, is
    one WeightsError naming the file."""
    path = Path(path) if path is not None else weights_file(WEIGHTS_PATH.name)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such weight file")
    if not path.is_file():
        raise WeightsError(f"{path}: not a regular file (a folder, FIFO or device)")
    try:
        return _load(path)
    except WeightsError:
        raise
    except ValueError as error:  # the checks' own messages name the field
        raise WeightsError(f"{path}: {error}") from None
    except (KeyError, TypeError, AttributeError, IndexError, ZeroDivisionError,
            OverflowError, MemoryError) as error:
        raise WeightsError(f"{path}: malformed model entry ({error!r})") from None


def _load(path: Path) -> Model:
    header = read_json_entry(path, META_KEY)
    expected = (f"a glaucoma_lib model file ({META_KEY} with kind in {sorted(MODEL_KINDS)} and "
                f"format_version {FORMAT_VERSION})")
    if not isinstance(header, dict) or "kind" not in header:
        if isinstance(header, dict) and "improved_config" in header:
            raise WeightsError(f"{path}: an old-format (version 1) model file; expected "
                               f"{expected}. Rebuild it with notebook 06 (make report).")
        raise WeightsError(f"{path}: not a model file; expected {expected}")
    kind, version = header["kind"], header.get("format_version")
    if not isinstance(kind, str) or kind not in MODEL_KINDS or not isinstance(version, int) \
            or isinstance(version, bool) or version != FORMAT_VERSION:
        raise WeightsError(f"{path}: kind {kind!r:.60}, format_version {version!r:.60}; "
                           f"expected {expected}")
    return MODEL_KINDS[kind].load(path, header)
