"""dpkit.Scattering2D equals Kymatio 0.3's numpy Scattering2D on the reference file's cases
(shape, channel order and values to the C tests' tolerance: 2e-5 of the largest coefficient)."""

import threading

import h5py
import numpy as np
import pytest

import dpkit

CASES = ["mnist_J2_L8", "cifar_J2_L8", "odd_J2_L8", "small_J1_L4", "order1_J3_L8"]


@pytest.fixture(scope="module")
def reference(test_data):
    with h5py.File(test_data / "scatter" / "kymatio_ref.h5", "r") as f:
        yield {g: {"input": f[g]["input"][...], "output": f[g]["output"][...],
                   "channels": f[g]["channels"][...],
                   **{k: int(f[g].attrs[k]) for k in ("J", "L", "max_order")}}
               for g in CASES}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matches_kymatio(reference, case, dtype):
    c = reference[case]
    x = c["input"].astype(dtype)
    S = dpkit.Scattering2D(J=c["J"], shape=x.shape[-2:], L=c["L"], max_order=c["max_order"],
                           planning="estimate")
    y = S(x)
    assert y.shape == c["output"].shape
    assert y.dtype == dtype
    assert S.K == c["output"].shape[-3]
    worst = np.abs(y.astype(np.float64) - c["output"]).max()
    assert worst <= 2e-5 * np.abs(c["output"]).max(), f"{case}: max |dpkit - kymatio| = {worst}"
    assert (S.channels() == c["channels"]).all()


def test_batch_layouts_and_views(reference):
    c = reference["mnist_J2_L8"]
    S = dpkit.Scattering2D(J=2, shape=(28, 28), planning="estimate", threads=1)
    flat = S(c["input"])
    assert S(c["input"][1]).shape == (81, 7, 7)                       # one image
    np.testing.assert_array_equal(S(c["input"][1]), flat[1])
    grouped = S(c["input"].reshape(2, 2, 28, 28))                      # (N, C, H, W)
    np.testing.assert_array_equal(grouped.reshape(flat.shape), flat)
    strided = np.asfortranarray(c["input"])                            # non-contiguous input
    np.testing.assert_array_equal(S(strided), flat)
    np.testing.assert_array_equal(S(c["input"][::-1])[::-1], flat)     # negative strides
    assert S(np.zeros((0, 28, 28))).shape == (0, 81, 7, 7)
    as_int = S((c["input"] * 255).round().astype(np.uint8))            # converted to float32
    assert as_int.dtype == np.float32 and as_int.shape == flat.shape


def test_float64_results_in_chunks_equal_float32_results():
    # more images than one float32 chunk, in a (2, 150) batch: every chunk boundary is crossed
    x = np.random.default_rng(1).random((2, 150, 28, 28))
    S = dpkit.Scattering2D(J=2, shape=(28, 28), planning="estimate", threads=1)
    y = S(x)
    assert y.dtype == np.float64 and y.shape == (2, 150, 81, 7, 7)
    np.testing.assert_array_equal(y, S(x.astype(np.float32)).astype(np.float64))


def test_threads_give_the_same_values():
    x = np.random.default_rng(0).random((16, 28, 28), dtype=np.float32)
    one = dpkit.Scattering2D(2, (28, 28), threads=1, planning="estimate")(x)
    two = dpkit.Scattering2D(2, (28, 28), threads=2, planning="estimate")(x)
    np.testing.assert_array_equal(one, two)


def test_concurrent_calls_are_serialised():
    S = dpkit.Scattering2D(2, (28, 28), planning="estimate")
    x = np.random.default_rng(1).random((8, 28, 28))
    want = S(x)
    results = [None] * 4

    def work(i):
        results[i] = S(x)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        np.testing.assert_array_equal(r, want)


def test_bad_input_raises():
    S = dpkit.Scattering2D(2, (28, 28), planning="estimate")
    with pytest.raises(ValueError, match="shape"):
        S(np.zeros((3, 28, 27)))
    with pytest.raises(ValueError, match="shape"):
        S(np.zeros(28))
    with pytest.raises(ValueError, match="NaN"):
        S(np.full((1, 28, 28), np.nan))
    with pytest.raises(ValueError, match="NaN"):
        S(np.full((1, 28, 28), 1e300))
    with pytest.raises(TypeError, match="complex"):
        S(np.zeros((1, 28, 28), np.complex64))
    with pytest.raises(TypeError):
        S(np.array([["a"] * 28] * 28))


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(J=3, shape=(4, 4)), dpkit.DpkitError, "2\\^J|J"),
    (dict(J=0, shape=(28, 28)), ValueError, "J"),
    (dict(J=2, shape=(28, 28), L=0), ValueError, "L"),
    (dict(J=2, shape=(28, 28), max_order=3), ValueError, "max_order"),
    (dict(J=2, shape=(28,)), ValueError, "shape"),
    (dict(J=2, shape=(28, 28), planning="fast"), ValueError, "planning"),
    (dict(J=2, shape=(28, 28), threads=0), ValueError, "threads"),
])
def test_bad_parameters_raise(kwargs, error, match):
    with pytest.raises(error, match=match):
        dpkit.Scattering2D(**kwargs)
