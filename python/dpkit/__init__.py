"""dpkit: differentially private learning on handcrafted features, over libdpkit (dpkit.h).

    import dpkit
    dpkit.accountant.epsilon(noise_multiplier=1.1, sample_rate=0.01, steps=10000, delta=1e-5)
    S = dpkit.Scattering2D(J=2, shape=(28, 28))        # Kymatio 0.3's numpy Scattering2D
    run = dpkit.train("configs/mnist-scatter-linear.yaml", {"training.epochs": 1})
    model = dpkit.load_model(run.model_path)

The accountant needs only cffi; the array parts (scattering, models, audit) need numpy (and
h5py for training on arrays) and are imported on first use. Guide: docs/python.md."""

from . import accountant
from ._lib import DpkitError, LibraryNotFound, library_path

__version__ = "0.1.0"

_LAZY = {
    "Scattering2D": ("scattering", "Scattering2D"),
    "train": ("models", "train"),
    "train_arrays": ("models", "train_arrays"),
    "check_config": ("models", "check_config"),
    "load_model": ("models", "load_model"),
    "Model": ("models", "Model"),
    "TrainResult": ("models", "TrainResult"),
    "EvalResult": ("models", "EvalResult"),
    "write_hdf5_dataset": ("models", "write_hdf5_dataset"),
}
_SUBMODULES = ("scattering", "models", "audit")

__all__ = ["accountant", "DpkitError", "LibraryNotFound", "library_path", "version",
           *_LAZY, *_SUBMODULES]


def version():
    """The loaded libdpkit's version."""
    from ._lib import ffi, lib
    return ffi.string(lib().dpkit_version()).decode()


def __getattr__(name):
    import importlib
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'dpkit' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
