"""Scattering2D: Kymatio 0.3's numpy Scattering2D (same output shape, channel order and
values, docs/scatter.md) on libdpkit's FFTW implementation.

    S = dpkit.Scattering2D(J=2, shape=(28, 28))       # L=8, max_order=2
    y = S(x)                                           # x (..., 28, 28) -> y (..., 81, 7, 7)

The transform runs in float32 (as Kymatio's filters are float32); float64 input gives float64
output of the float32 computation, other real input (integers, bool) gives float32."""

import threading

import numpy as np

from ._lib import DpkitError, check, ffi, integer, lib, message, new_error

__all__ = ["Scattering2D"]

_PLANNING = {"estimate": 0, "measure": 1, "patient": 2}
_CHUNK = 256  # images per call when the result is converted to float64


class Scattering2D:
    """Scattering2D(J, shape, L=8, max_order=2, threads=None, planning="measure").

    threads: OpenMP threads per call (None: all). planning: FFTW's planner rigor
    ("estimate" builds instantly; "measure", the default, takes a fraction of a second and
    transforms faster). Calls on one object from several Python threads are serialised."""

    def __init__(self, J, shape, L=8, max_order=2, threads=None, planning="measure"):
        self.J = integer(J, "J", minimum=1)
        self.L = integer(L, "L", minimum=1)
        self.max_order = integer(max_order, "max_order")
        if self.max_order not in (1, 2):
            raise ValueError(f"max_order is {self.max_order}, expected 1 or 2")
        try:
            M, N = shape
        except (TypeError, ValueError):
            raise ValueError(f"shape must be (M, N), got {shape!r}") from None
        self.M, self.N = integer(M, "shape[0]", minimum=1), integer(N, "shape[1]", minimum=1)
        self.shape = (self.M, self.N)
        self.threads = 0 if threads is None else integer(threads, "threads", minimum=1)
        if planning not in _PLANNING:
            raise ValueError(f"planning must be one of {tuple(_PLANNING)}, got {planning!r}")
        err = new_error()
        handle = lib().dpkit_scattering_create(self.J, self.L, self.max_order, self.M, self.N,
                                               self.threads, _PLANNING[planning], err)
        if handle == ffi.NULL:
            raise DpkitError(message(err))
        self._handle = ffi.gc(handle, lib().dpkit_scattering_free)
        dims = ffi.new("size_t[3]")
        lib().dpkit_scattering_output_shape(self._handle, dims, dims + 1, dims + 2)
        self.K, self.output_height, self.output_width = int(dims[0]), int(dims[1]), int(dims[2])
        self._lock = threading.Lock()

    def __repr__(self):
        return (f"Scattering2D(J={self.J}, shape={self.shape}, L={self.L}, "
                f"max_order={self.max_order})")

    @property
    def output_shape(self):
        """(K, M / 2^J, N / 2^J) of one image."""
        return (self.K, self.output_height, self.output_width)

    def channels(self):
        """(K, 5) int array: order, j1, theta1, j2, theta2 of each output channel (-1 unused)."""
        table = np.empty((self.K, 5), dtype=np.int32)
        cells = ffi.new("int[5]")
        for k in range(self.K):
            err = new_error()
            check(lib().dpkit_scattering_channel(self._handle, k, cells, cells + 1, cells + 2,
                                                 cells + 3, cells + 4, err), err)
            table[k] = list(cells)
        return table

    def scattering(self, x):
        """The transform of x (..., M, N): (..., K, M / 2^J, N / 2^J)."""
        x = np.asarray(x)
        if x.dtype.kind == "c":
            raise TypeError("Scattering2D: complex input; expected real images")
        if x.dtype.kind not in "fiub":
            raise TypeError(f"Scattering2D: input of dtype {x.dtype}; expected real numbers")
        if x.ndim < 2:
            raise ValueError(f"Scattering2D: input of shape {x.shape}; expected (..., M, N) "
                             f"with (M, N) = {self.shape}")
        if x.shape[-2:] != self.shape:
            raise ValueError(f"Scattering2D: input of shape {x.shape}; expected (..., "
                             f"{self.M}, {self.N}), the shape this object was built for")
        out_dtype = np.float64 if x.dtype == np.float64 else np.float32
        with np.errstate(over="ignore"):  # values beyond float32 become inf, refused below
            images = np.ascontiguousarray(x, dtype=np.float32)
        if not np.isfinite(images).all():
            raise ValueError("Scattering2D: input holds NaN or infinite values (or values "
                             "beyond float32's range)")
        batch = x.shape[:-2]
        count = int(np.prod(batch, dtype=np.int64))
        images = images.reshape(count, self.M, self.N)
        out = np.empty((count,) + self.output_shape, out_dtype)
        with self._lock:
            if out_dtype == np.float32:
                self._execute(images, out)
            else:
                # float64 results pass through a float32 buffer of _CHUNK images that stays in
                # cache: converting the whole float32 result afterwards cost 18% more time on
                # 10,000 MNIST images, this costs nothing measurable (docs/RESULTS.md).
                buffer = np.empty((min(_CHUNK, count),) + self.output_shape, np.float32)
                for i in range(0, count, _CHUNK):
                    m = min(_CHUNK, count - i)
                    self._execute(images[i:i + m], buffer[:m])
                    out[i:i + m] = buffer[:m]
        return out.reshape(batch + self.output_shape)

    def _execute(self, images, out):
        """dpkit_scattering_execute on C-contiguous float32 (n, M, N) -> (n, K, h, w)."""
        if len(images) == 0:
            return
        err = new_error()
        status = lib().dpkit_scattering_execute(
            self._handle, len(images), ffi.cast("const float *", ffi.from_buffer(images)),
            ffi.cast("float *", ffi.from_buffer(out)), err)
        check(status, err)

    __call__ = scattering
    forward = scattering
