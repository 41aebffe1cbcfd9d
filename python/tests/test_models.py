"""Training from numpy arrays equals `dpkit train` on the same data in an HDF5 file (reproducible
noise); models load and predict per-example outputs; `dpkit eval --per-example` and
Model.evaluate give outputs that reproduce the reported accuracy; bad input raises."""

import json
import subprocess

import h5py
import numpy as np
import pytest

import dpkit


def make_data(seed=0, train=400, test=60, classes=3, side=8):
    rng = np.random.default_rng(seed)
    y = np.arange(train) % classes
    yt = np.arange(test) % classes
    x = rng.random((train, side, side)) * 0.5 + y[:, None, None] * 0.2
    xt = rng.random((test, side, side)) * 0.5 + yt[:, None, None] * 0.2
    return x.astype(np.float32), y, xt.astype(np.float32), yt


CONFIG = {
    "name": "python-arrays",
    "seed": 3,
    "data": {"dataset": "synthetic"},
    "features": {"extractor": "raw"},
    "model": {"kind": "linear"},
    "privacy": {"epsilon": 2.0, "delta": 1e-5, "max_grad_norm": 1.0, "reproducible_noise": True},
    "training": {"epochs": 2, "batch_size": 100, "physical_batch": 100,
                 "optimizer": {"kind": "sgd", "lr": 0.5}},
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One model from arrays, one from `dpkit train` on a hand-written HDF5 file."""
    tmp = tmp_path_factory.mktemp("runs")
    x, y, xt, yt = make_data()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DPKIT_CACHE", str(tmp / "cache"))
        from_arrays = dpkit.train_arrays(x, y, xt, yt, CONFIG, output_dir=tmp / "arrays")
    data = tmp / "mine.h5"
    with h5py.File(data, "w") as f:
        f["train/x"], f["train/y"] = x, y
        f["test/x"], f["test/y"] = xt, yt
    config = tmp / "config.yaml"
    config.write_text(json.dumps(CONFIG))
    return {"arrays": from_arrays, "data": data, "config": config, "tmp": tmp,
            "xy": (x, y, xt, yt)}


def test_arrays_equal_an_hdf5_file(trained, dpkit_bin):
    tmp = trained["tmp"]
    subprocess.run([dpkit_bin, "-q", "train", str(trained["config"]), "--set",
                    f"data.dataset=hdf5:{trained['data']}", "--set", f"output.dir={tmp / 'file'}"],
                   check=True, capture_output=True)
    a = trained["arrays"]
    assert a.reproducible_noise and a.steps == 8
    ma, mf = a.load(), dpkit.load_model(tmp / "file" / "model.h5")
    x, y, xt, yt = trained["xy"]
    features = xt.reshape(len(xt), -1)
    np.testing.assert_array_equal(ma.predict(features), mf.predict(features))
    assert ma.epsilon(1e-5) == mf.epsilon(1e-5) == a.epsilon
    with h5py.File(tmp / "file" / "model.h5") as f, h5py.File(a.model_path) as g:
        np.testing.assert_array_equal(f["model/params"][...], g["model/params"][...])
        for name in ("sampling_rate", "noise_multiplier", "count"):
            np.testing.assert_array_equal(f["ledger"][name][...], g["ledger"][name][...])


def test_train_from_a_yaml_path_equals_a_dict(trained):
    tmp = trained["tmp"]
    r = dpkit.train(trained["config"], {"data.dataset": f"hdf5:{trained['data']}",
                                        "output.dir": str(tmp / "yaml")})
    x, y, xt, yt = trained["xy"]
    features = xt.reshape(len(xt), -1)
    np.testing.assert_array_equal(r.load().predict(features),
                                  trained["arrays"].load().predict(features))
    assert r.test_accuracy == trained["arrays"].test_accuracy


def test_predictions_per_example(trained):
    model = trained["arrays"].load()
    x, y, xt, yt = trained["xy"]
    assert model.class_count == 3 and model.feature_count == 64
    assert model.image_shape == (1, 8, 8) and model.reproducible_noise
    logits = model.predict(xt.reshape(len(xt), -1))
    assert logits.shape == (len(xt), 3) and logits.dtype == np.float32
    np.testing.assert_array_equal(model.predict_images(xt[:, None]), logits)
    np.testing.assert_array_equal(model.predict(xt.astype(np.float64)), logits)  # converted
    np.testing.assert_array_equal(model.predict(np.asfortranarray(xt.reshape(len(xt), -1))),
                                  logits)
    probabilities = model.predict(xt.reshape(len(xt), -1), output="probabilities")
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)
    loss = model.per_example_loss(xt.reshape(len(xt), -1), yt)
    want = -np.log(probabilities[np.arange(len(yt)), yt].astype(np.float64))
    np.testing.assert_allclose(loss, want, rtol=1e-4)
    accuracy = (logits.argmax(axis=1) == yt).mean()
    assert abs(accuracy - trained["arrays"].test_accuracy) < 1e-12
    phi = dpkit.audit.lira_logit_confidence(logits, yt)
    assert phi.shape == (len(yt),)


def per_example_file(dpkit_bin, model_path, out):
    """`dpkit eval --json --per-example OUT`: the JSON report and the file's arrays."""
    p = subprocess.run([dpkit_bin, "eval", model_path, "--json", "--per-example", str(out)],
                       check=True, capture_output=True, text=True)
    report = json.loads(p.stdout)
    with h5py.File(out, "r") as f:
        arrays = {name: f[name][...] for name in ("index", "label", "prediction", "loss",
                                                  "logits")}
        attrs = dict(f.attrs)
    return report, arrays, attrs


def test_eval_per_example_file_reproduces_the_accuracy(trained, dpkit_bin, tmp_path):
    model_path = trained["arrays"].model_path
    out = tmp_path / "per-example.h5"
    report, a, attrs = per_example_file(dpkit_bin, model_path, out)
    x, y, xt, yt = trained["xy"]
    assert report["model"] == model_path and report["per_example"] == str(out)
    assert report["split"] == "test" and report["examples"] == len(yt)
    assert report["dataset"] == f"hdf5:{trained['tmp'] / 'arrays' / 'data.h5'}"
    assert report["reproducible_noise"] is True and report["noise_key"].startswith("derived")
    assert report["dpkit_version"] == dpkit.version()
    assert attrs["format"] == "dpkit-eval-1" and attrs["model"] == model_path
    assert attrs["dataset"] == report["dataset"] and attrs["split"] == "test"
    assert a["index"].dtype == np.int64 and a["label"].dtype == np.int32
    assert a["prediction"].dtype == np.int32 and a["loss"].dtype == np.float32
    assert a["logits"].dtype == np.float32 and a["logits"].shape == (len(yt), 3)
    np.testing.assert_array_equal(a["index"], np.arange(len(yt)))
    np.testing.assert_array_equal(a["label"], yt)
    # numpy alone, from the logits and labels: predictions, accuracy, cross-entropy
    logits = a["logits"].astype(np.float64)
    predictions = logits.argmax(axis=1)
    np.testing.assert_array_equal(predictions, a["prediction"])
    accuracy = (predictions == a["label"]).mean()
    assert accuracy == report["accuracy"] == trained["arrays"].test_accuracy
    assert 0 < accuracy < 1
    top = logits.max(axis=1)
    loss = top + np.log(np.exp(logits - top[:, None]).sum(axis=1)) - logits[np.arange(len(yt)),
                                                                            a["label"]]
    np.testing.assert_allclose(a["loss"], loss, rtol=1e-5, atol=1e-6)
    assert abs(loss.mean() - report["mean_loss"]) < 1e-6
    model = dpkit.load_model(model_path)
    np.testing.assert_allclose(a["logits"], model.predict(xt.reshape(len(xt), -1)), rtol=1e-5,
                               atol=1e-6)


def test_evaluate_equals_dpkit_eval(trained, dpkit_bin, tmp_path):
    model = trained["arrays"].load()
    report, a, _ = per_example_file(dpkit_bin, trained["arrays"].model_path, tmp_path / "e.h5")
    r = model.evaluate(per_example=True)
    assert (r.count, r.accuracy) == (report["examples"], report["accuracy"])
    assert abs(r.mean_loss - report["mean_loss"]) < 1e-12
    np.testing.assert_array_equal(r.labels, a["label"])
    np.testing.assert_array_equal(r.predictions, a["prediction"])
    np.testing.assert_array_equal(r.losses, a["loss"])
    np.testing.assert_array_equal(r.logits, a["logits"])
    train = model.evaluate(split="train")
    assert train.count == 400 and train.labels is None and train.logits is None
    with pytest.raises(dpkit.DpkitError, match="split: 'valid', expected test or train"):
        model.evaluate(split="valid")
    with pytest.raises(dpkit.DpkitError, match="missing.h5"):
        model.evaluate(dataset=f"hdf5:{tmp_path / 'missing.h5'}")


def test_eval_refuses_to_write_over_the_model(trained, dpkit_bin):
    model_path = trained["arrays"].model_path
    before = open(model_path, "rb").read()
    p = subprocess.run([dpkit_bin, "eval", model_path, "--per-example", model_path],
                       capture_output=True, text=True)
    assert p.returncode == 1 and "is the model file" in p.stderr
    assert open(model_path, "rb").read() == before


def test_bad_model_input_raises(trained):
    model = trained["arrays"].load()
    with pytest.raises(ValueError, match="shape"):
        model.predict(np.zeros((2, 63)))
    with pytest.raises(ValueError, match="NaN"):
        model.predict(np.full((2, 64), np.nan))
    with pytest.raises(ValueError, match="output"):
        model.predict(np.zeros((2, 64)), output="softmax")
    with pytest.raises(TypeError):
        model.predict(np.zeros((2, 64), np.complex128))
    with pytest.raises(dpkit.DpkitError, match="missing.h5"):
        dpkit.load_model(trained["tmp"] / "missing.h5")
    with pytest.raises(dpkit.DpkitError):
        model.epsilon(1e-5, accountant="moments")


def test_a_run_directory_is_refused_unless_overwrite(trained):
    tmp = trained["tmp"]
    overrides = {"data.dataset": f"hdf5:{trained['data']}", "output.dir": str(tmp / "again")}
    first = dpkit.train(trained["config"], overrides)
    with pytest.raises(dpkit.DpkitError, match="already holds a run .model.h5.*overwrite"):
        dpkit.train(trained["config"], overrides)
    again = dpkit.train(trained["config"], overrides, overwrite=True)
    assert again.model_path == first.model_path and again.steps == first.steps
    x, y, xt, yt = trained["xy"]
    arrays = trained["arrays"].model_path.rsplit("/", 1)[0]
    with pytest.raises(dpkit.DpkitError, match="already holds a run"):
        dpkit.train_arrays(x, y, xt, yt, CONFIG, output_dir=arrays)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DPKIT_CACHE", str(tmp / "cache"))
        replaced = dpkit.train_arrays(x, y, xt, yt, CONFIG, output_dir=tmp / "arrays-again")
        replaced = dpkit.train_arrays(x, y, xt, yt, CONFIG, output_dir=tmp / "arrays-again",
                                      overwrite=True)
    assert replaced.test_accuracy == trained["arrays"].test_accuracy


def test_bad_training_input_raises(tmp_path):
    x, y, xt, yt = make_data(train=30, test=6)
    bad = x.copy()
    bad[3, 2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        dpkit.train_arrays(bad, y, xt, yt, CONFIG, output_dir=tmp_path / "a")
    with pytest.raises(ValueError, match="labels|shape"):
        dpkit.train_arrays(x, y[:-1], xt, yt, CONFIG, output_dir=tmp_path / "b")
    with pytest.raises(ValueError, match="negative"):
        dpkit.train_arrays(x, -y, xt, yt, CONFIG, output_dir=tmp_path / "c")
    with pytest.raises(ValueError, match="same example shape"):
        dpkit.train_arrays(x, y, xt[:, :4], yt, CONFIG, output_dir=tmp_path / "d")
    with pytest.raises(dpkit.DpkitError, match="training.epochs"):
        dpkit.train_arrays(x, y, xt, yt, CONFIG, {"training.epochs": -1},
                           output_dir=tmp_path / "e")
    with pytest.raises(dpkit.DpkitError, match="nope"):
        dpkit.check_config(CONFIG, {"nope.key": 1})
    with pytest.raises(ValueError, match="key=value"):
        dpkit.train(CONFIG, ["training.epochs"])
    with pytest.raises(TypeError):
        dpkit.train(42)


def test_mirror_average_is_the_mean_over_the_mirror(trained):
    """model.mirror_average: the same parameters, logits the mean at each image and its
    mirror (docs/maths.md 4.18); features alone are refused."""
    tmp = trained["tmp"]
    x, y, xt, yt = trained["xy"]
    r = dpkit.train_arrays(x, y, xt, yt, CONFIG, {"model.mirror_average": True},
                           output_dir=tmp / "mirror")
    single, mean = trained["arrays"].load(), r.load()
    with h5py.File(trained["arrays"].model_path) as f, h5py.File(r.model_path) as g:
        np.testing.assert_array_equal(f["model/params"][...], g["model/params"][...])
    images = xt[:, None]
    want = 0.5 * (single.predict_images(images) + single.predict_images(images[..., ::-1]))
    got = mean.predict_images(images)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    assert abs((got.argmax(axis=1) == yt).mean() - r.test_accuracy) < 1e-12
    e = mean.evaluate(per_example=True)
    np.testing.assert_allclose(e.logits, want, rtol=1e-5, atol=1e-5)
    with pytest.raises(dpkit.DpkitError, match="model.mirror_average"):
        mean.predict(xt.reshape(len(xt), -1))
