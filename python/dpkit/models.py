"""Training and evaluation over libdpkit (docs/train.md, docs/config.md): train a config (a YAML
file or a dict, plus `key=value` overrides) exactly as `dpkit train` does, train on numpy arrays
with the same privacy semantics, load a model.h5, predict per-example logits or
probabilities as numpy arrays and evaluate it on a dataset split as `dpkit eval` does."""

import json
import os
import tempfile
from dataclasses import dataclass

import numpy as np

from ._lib import DpkitError, call_double, check, ffi, lib, message, new_error, real, text

__all__ = ["train", "train_arrays", "check_config", "write_hdf5_dataset", "Model", "load_model",
           "TrainResult", "EvalResult"]


def _value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list, tuple)):
        return json.dumps(v)
    return str(v)


def _overrides(overrides):
    """`key=value` strings from a dict {key: value} or an iterable of such strings."""
    if overrides is None:
        return []
    if isinstance(overrides, dict):
        items = [f"{k}={_value(v)}" for k, v in overrides.items()]
    elif isinstance(overrides, (str, bytes)):
        raise TypeError("overrides must be a dict or a list of 'key=value' strings, not a string")
    else:
        items = list(overrides)
    for item in items:
        if not isinstance(item, str) or "=" not in item:
            raise ValueError(f"override {item!r}: expected 'key=value'")
    return items


class _ConfigFile:
    """A path for dpkit: the file itself, or a dict written as a temporary YAML file (JSON is
    YAML's flow style)."""

    def __init__(self, config):
        self._tmp = None
        if isinstance(config, dict):
            fd, path = tempfile.mkstemp(prefix="dpkit-config-", suffix=".yaml")
            with os.fdopen(fd, "w") as f:
                json.dump(config, f, allow_nan=False)
            self._tmp = self.path = path
        elif isinstance(config, (str, os.PathLike)):
            self.path = os.fspath(config)
        else:
            raise TypeError(f"config must be a dict or a YAML path, not {type(config).__name__}")

    def __enter__(self):
        return self.path

    def __exit__(self, *exc):
        if self._tmp:
            os.unlink(self._tmp)


def _c_overrides(items):
    keep = [ffi.new("char[]", text(s, "override")) for s in items]
    array = ffi.new("const char *[]", keep) if keep else ffi.NULL
    return keep, array


def check_config(config, overrides=None):
    """Checks every value of a config (dict or YAML path) with its overrides; raises
    DpkitError naming the bad key. Trains nothing."""
    items = _overrides(overrides)
    with _ConfigFile(config) as path:
        keep, array = _c_overrides(items)
        err = new_error()
        check(lib().dpkit_check_config(text(path, "config"), array, len(items), err), err)


@dataclass(frozen=True)
class TrainResult:
    """What a training run reports (its run directory also holds config.yaml, metrics.jsonl,
    checkpoint.h5 and summary.json)."""
    model_path: str
    epsilon: float
    delta: float
    test_accuracy: float
    steps: int
    reproducible_noise: bool

    def load(self):
        """The trained model."""
        return Model(self.model_path)


def train(config, overrides=None, overwrite=False):
    """Trains a config (dict or YAML path) with `key=value` overrides (dict or list) as
    `dpkit train CONFIG --set ...` does. A run directory that already holds a run (model.h5 or
    checkpoint.h5) is refused unless overwrite=True, which replaces that run."""
    items = _overrides(overrides)
    with _ConfigFile(config) as path:
        keep, array = _c_overrides(items)
        result = ffi.new("dpkit_train_result *")
        err = new_error()
        flags = lib().DPKIT_TRAIN_OVERWRITE if overwrite else 0
        check(lib().dpkit_train_flags(text(path, "config"), array, len(items), flags, result,
                                      err), err)
    return TrainResult(ffi.string(result.model_path).decode(), result.epsilon, result.delta,
                       result.test_accuracy, int(result.steps), bool(result.reproducible_noise))


def _examples(x, what):
    x = np.asarray(x)
    if x.dtype.kind not in "fiub" or x.dtype == np.float16:
        if x.dtype == np.float16:
            x = x.astype(np.float32)
        else:
            raise TypeError(f"{what}: dtype {x.dtype}; expected uint8 or real numbers")
    if x.ndim not in (2, 3, 4):
        raise ValueError(f"{what}: shape {x.shape}; expected (N, D), (N, H, W) or (N, H, W, C)")
    if x.shape[0] == 0:
        raise ValueError(f"{what}: no examples")
    if x.dtype != np.uint8:
        with np.errstate(over="ignore"):  # beyond float32: inf, refused below
            x = np.ascontiguousarray(x, dtype=np.float32)
        if not np.isfinite(x).all():
            raise ValueError(f"{what} holds NaN or infinite values")
    return np.ascontiguousarray(x)


def _labels(y, count, what):
    y = np.asarray(y)
    if y.dtype.kind == "f":
        if not np.isfinite(y).all() or not (y == np.round(y)).all():
            raise ValueError(f"{what}: labels must be whole numbers")
    elif y.dtype.kind not in "iub":
        raise TypeError(f"{what}: dtype {y.dtype}; expected integer labels")
    if y.shape != (count,):
        raise ValueError(f"{what}: shape {y.shape}; expected ({count},), one label per example")
    if count and y.min() < 0:
        raise ValueError(f"{what}: label {int(y.min())} is negative; expected 0..K-1")
    return np.ascontiguousarray(y, dtype=np.int64)


def write_hdf5_dataset(path, x_train, y_train, x_test, y_test, class_count=None,
                       class_names=None):
    """Writes arrays in the layout of dpkit's `hdf5:PATH` datasets (docs/datasets.md): images
    (N, H, W) or (N, H, W, C) as uint8 or float32, or embeddings (N, D); integer labels. The
    file is written to a temporary name and renamed into place."""
    import h5py

    x_train = _examples(x_train, "x_train")
    x_test = _examples(x_test, "x_test")
    if x_train.shape[1:] != x_test.shape[1:] or x_train.dtype != x_test.dtype:
        raise ValueError(f"x_train {x_train.shape} {x_train.dtype} and x_test {x_test.shape} "
                         f"{x_test.dtype}: expected the same example shape and dtype")
    y_train = _labels(y_train, x_train.shape[0], "y_train")
    y_test = _labels(y_test, x_test.shape[0], "y_test")
    path = os.path.abspath(os.fspath(path))
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with h5py.File(tmp, "w") as f:
            f["train/x"], f["train/y"] = x_train, y_train
            f["test/x"], f["test/y"] = x_test, y_test
            if class_count is not None:
                f.attrs["class_count"] = np.int64(class_count)
            if class_names is not None:
                f.attrs["class_names"] = ",".join(class_names)
            f.flush()
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def train_arrays(x_train, y_train, x_test, y_test, config, overrides=None, output_dir=None,
                 class_count=None, overwrite=False):
    """Trains on numpy arrays with exactly the semantics of `dpkit train` (sampling, clipping,
    noise, accounting): the arrays are written to OUTPUT_DIR/data.h5 in the `hdf5:PATH`
    layout and the config is trained with data.dataset=hdf5:OUTPUT_DIR/data.h5 and
    output.dir=OUTPUT_DIR. output_dir: the argument, else a dict config's output.dir, else a
    new temporary directory. The run directory then holds the training data: treat it as
    private. A directory that already holds a run is refused unless overwrite=True."""
    if output_dir is None and isinstance(config, dict):
        output_dir = (config.get("output") or {}).get("dir")
    if output_dir is None:
        output_dir = tempfile.mkdtemp(prefix="dpkit-run-")
    output_dir = os.path.abspath(os.fspath(output_dir))
    os.makedirs(output_dir, exist_ok=True)
    held = [f for f in ("model.h5", "checkpoint.h5") if os.path.exists(os.path.join(output_dir, f))]
    if held and not overwrite:  # checked before data.h5 of that run is replaced
        raise DpkitError(f"output.dir: {output_dir} already holds a run ({held[0]}); expected a "
                         "new directory: choose another output_dir, or replace it with "
                         "overwrite=True")
    data = write_hdf5_dataset(os.path.join(output_dir, "data.h5"), x_train, y_train, x_test,
                              y_test, class_count=class_count)
    items = _overrides(overrides)
    items += [f"data.dataset=hdf5:{data}", f"output.dir={output_dir}"]
    return train(config, items, overwrite=overwrite)


_OUTPUTS = {"logits": 0, "probabilities": 1}


@dataclass(frozen=True)
class EvalResult:
    """A model on a dataset split, as `dpkit eval` reports it; with per_example also the
    split's arrays in its order (else None)."""
    count: int
    accuracy: float
    mean_loss: float
    labels: np.ndarray = None       # (N,) int32
    predictions: np.ndarray = None  # (N,) int32, the first largest logit
    losses: np.ndarray = None       # (N,) float32 cross-entropy
    logits: np.ndarray = None       # (N, classes) float32


def _copy(pointer, dtype, shape):
    """A numpy copy of a C array that the library frees afterwards."""
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    return np.frombuffer(ffi.buffer(pointer, size), dtype).reshape(shape).copy()


class Model:
    """A trained model.h5 with its normaliser, feature extractor and privacy ledger."""

    def __init__(self, path):
        self.path = os.fspath(path)
        err = new_error()
        handle = lib().dpkit_model_load(text(self.path, "path"), err)
        if handle == ffi.NULL:
            raise DpkitError(message(err))
        self._handle = ffi.gc(handle, lib().dpkit_model_free)
        self.class_count = int(lib().dpkit_model_class_count(self._handle))
        self.feature_count = int(lib().dpkit_model_feature_count(self._handle))
        dims = ffi.new("size_t[3]")
        lib().dpkit_model_image_shape(self._handle, dims, dims + 1, dims + 2)
        self.image_shape = (int(dims[0]), int(dims[1]), int(dims[2]))

    def __repr__(self):
        return (f"Model({self.path!r}: {self.class_count} classes, {self.feature_count} "
                f"features, images {self.image_shape})")

    @property
    def reproducible_noise(self):
        """True when the noise was keyed from the public seed (the run is not private)."""
        return bool(lib().dpkit_model_reproducible_noise(self._handle))

    def epsilon(self, delta, accountant="rdp"):
        """epsilon at delta of the model's privacy ledger."""
        return call_double(lib().dpkit_model_epsilon, self._handle, real(delta, "delta"),
                           text(accountant, "accountant"))

    def _run(self, fn, x, per_example, output, what):
        if output not in _OUTPUTS:
            raise ValueError(f"output must be one of {tuple(_OUTPUTS)}, got {output!r}")
        x = np.asarray(x)
        if x.dtype.kind not in "fiub":
            raise TypeError(f"{what}: dtype {x.dtype}; expected real numbers")
        with np.errstate(over="ignore"):  # beyond float32: inf, refused below
            x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim == 0 or int(np.prod(x.shape[1:], dtype=np.int64)) != per_example:
            raise ValueError(f"{what}: shape {x.shape}; expected (N, ...) with {per_example} "
                             "values per example")
        if not np.isfinite(x).all():
            raise ValueError(f"{what} holds NaN or infinite values")
        count = x.shape[0]
        out = np.empty((count, self.class_count), np.float32)
        if count:
            err = new_error()
            check(fn(self._handle, ffi.cast("const float *", ffi.from_buffer(x)), count,
                     _OUTPUTS[output], ffi.cast("float *", ffi.from_buffer(out)), err), err)
        return out

    def predict(self, features, output="logits"):
        """(N, classes) logits or probabilities of raw (unnormalised) feature vectors
        (N, feature_count); the model's normaliser is applied. A model with
        model.mirror_average refuses: its logits need the mirror images (predict_images)."""
        return self._run(lib().dpkit_model_predict, features, self.feature_count, output,
                         "features")

    def predict_images(self, images, output="logits"):
        """The same from images (N, C, H, W) (or (N, H, W) for one channel), pixel values in
        [0, 1]: the model's feature extractor (ScatterNet, HOG or raw pixels) runs first; with
        model.mirror_average the logits are the mean at each image and its mirror."""
        c, h, w = self.image_shape
        if c * h * w == 0:
            raise DpkitError(f"{self.path}: the model records no image shape; use predict")
        return self._run(lib().dpkit_model_predict_images, images, c * h * w, output, "images")

    def evaluate(self, dataset=None, split="test", per_example=False):
        """Accuracy and mean cross-entropy on a split ("test" or "train") of a dataset (None:
        the model's own; else "mnist", "fashion-mnist", "cifar10" or "hdf5:PATH"), through the
        model's feature extractor (features cached) and normaliser, as `dpkit eval` does.
        per_example also returns the labels, predictions, losses and logits."""
        result = ffi.new("dpkit_eval_result *")
        err = new_error()
        check(lib().dpkit_model_evaluate(self._handle, text(dataset, "dataset"),
                                         text(split, "split"), 1 if per_example else 0, result,
                                         err), err)
        try:
            n, k = int(result.count), int(result.class_count)
            summary = (n, float(result.accuracy), float(result.mean_loss))
            arrays = {}
            if per_example and n:
                arrays = {"labels": _copy(result.labels, np.int32, (n,)),
                          "predictions": _copy(result.predictions, np.int32, (n,)),
                          "losses": _copy(result.losses, np.float32, (n,)),
                          "logits": _copy(result.logits, np.float32, (n, k))}
        finally:
            lib().dpkit_eval_result_free(result)
        return EvalResult(*summary, **arrays)

    def predict_proba(self, features):
        return self.predict(features, "probabilities")

    def per_example_loss(self, features, labels, images=False):
        """Cross-entropy of each example under the model, (N,) float64."""
        logits = (self.predict_images if images else self.predict)(features).astype(np.float64)
        labels = _labels(labels, logits.shape[0], "labels")
        if labels.size and labels.max() >= self.class_count:
            raise ValueError(f"labels: {int(labels.max())} is not below the {self.class_count} "
                             "classes")
        top = logits.max(axis=1, keepdims=True)
        lse = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
        return lse - logits[np.arange(logits.shape[0]), labels]


def load_model(path):
    """Loads a model.h5."""
    return Model(path)
