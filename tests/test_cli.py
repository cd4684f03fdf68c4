"""python -m minicnn train / eval: every zoo architecture trains, runs resume, and mistakes get one clear line."""
import numpy as np
import pytest

from minicnn import architectures, commands
from minicnn.__main__ import main

# the smallest input each builder's layers accept at width 0.125 (32 unless listed)
INPUT_SIZE = {"alexnet": 80, "googlenet": 48, "inception_v2": 64, "inception_v3": 112, "inception_v4": 75,
              "inception_resnet_v2": 75, "zfnet": 64}
# the architectures for other data than Shapes' labels: masks, 1-D signals, 3-D volumes
DATASET = {"fcn": "shapes-seg", "fcn_nopool": "shapes-seg", "fcn_upsample": "shapes-seg", "fcn_unitpool": "shapes-seg",
           "cnn1d": "signals", "cnn3d": "volumes"}
DEPTH = {"resnet_cifar": 8, "preact_resnet_cifar": 11, "stochastic_depth_resnet_cifar": 8, "wide_resnet_cifar": 10,
         "densenet_bc_cifar": 10}


def tiny(arch):
    options = architectures.options_of(architectures.BUILDERS[arch])
    args = ["--image-size", str(INPUT_SIZE.get(arch, 32))]
    if "width" in options:
        args += ["--width", "0.125"]
    if arch in DEPTH:
        args += ["--depth", str(DEPTH[arch])]
    return args


@pytest.mark.slow
@pytest.mark.parametrize("arch", architectures.available())
def test_every_architecture_trains_one_epoch_on_shapes(arch, tmp_path, capsys):
    dataset = ["--dataset", DATASET.get(arch, "digits" if arch == "lenet5" else "shapes")]
    size = ["--image-size", "64"] if arch == "cnn1d" else ["--image-size", "8"] if arch == "cnn3d" else tiny(arch)[:2]
    status = main(["train", "--arch", arch, *size, *tiny(arch)[2:], *dataset, "--num-train", "8", "--num-test", "4",
                   "--epochs", "1", "--batch-size", "4", "--lr", "0.001", "--no-progress", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert "epoch   1/1" in out and ("mean IoU" if arch.startswith("fcn") else "confusion matrix") in out
    assert (tmp_path / "last.npz").exists()


def test_train_resume_and_eval(tmp_path, capsys):
    args = ["train", "--arch", "lenet5", "--dataset", "digits", "--num-train", "64", "--num-test", "32",
            "--epochs", "1", "--batch-size", "16", "--optimizer", "adam", "--lr", "1e-3", "--schedule", "onecycle",
            "--label-smoothing", "0.1", "--clip-grad-norm", "5", "--no-progress", "--out", str(tmp_path)]
    assert main(args) == 0
    args[args.index("--epochs") + 1] = "2"
    assert main(args + ["--resume"]) == 2  # OneCycleLR's total steps differ: the schedule does not fit
    capsys.readouterr()
    args[args.index("onecycle")] = "cosine"
    run = tmp_path / "cos"
    args[args.index("--out") + 1] = str(run)
    assert main(args) == 0 and main(args[:-2] + ["--out", str(run), "--resume"]) == 0
    out = capsys.readouterr().out
    assert "resuming from" in out and out.count("epoch   2/2") == 1
    assert main(["eval", "--checkpoint", str(run / "last.npz")]) == 0
    out = capsys.readouterr().out
    assert "lenet5 from" in out and "accuracy" in out and "top-5 error" in out and "macro avg" in out
    assert "32 test images" in out


def test_a_checkpoint_for_another_architecture_names_the_keys(tmp_path, capsys):
    common = ["--dataset", "shapes", "--num-train", "8", "--num-test", "4", "--epochs", "1", "--batch-size", "4",
              "--no-progress", "--out", str(tmp_path)]
    assert main(["train", "--arch", "resnet_cifar", "--depth", "8", "--width", "0.25", *common]) == 0
    capsys.readouterr()
    common[common.index("1")] = "2"
    assert main(["train", "--arch", "nin_cifar", "--width", "0.125", *common, "--resume"]) == 2
    err = capsys.readouterr().err
    assert "does not fit this model" in err and "missing: body." in err and "unexpected: body." in err


@pytest.mark.parametrize("argv, message", [
    (["--arch", "lenet5", "--dataset", "shapes"], "lenet5 takes 1-channel images but shapes has 3"),
    (["--arch", "vgg11", "--width", "0.125", "--dataset", "digits"], "add --gray-to-rgb"),
    (["--arch", "resnet_9000"], "unknown --arch 'resnet_9000'; available: alexnet"),
    (["--arch", "lenet5", "--dataset", "digits", "--option", "dropout=0.5"], "lenet5 has no option dropout"),
    (["--arch", "lenet5", "--dataset", "cifar10"], "needs the folder"),
    (["--arch", "lenet5", "--dataset", "mnist:/nonexistent"], "/nonexistent"),
    (["--arch", "lenet5", "--dataset", "digits", "--resume"], "--resume needs --out"),
])
def test_mistakes_get_one_clear_line(argv, message, capsys):
    assert main(["train", *argv, "--num-train", "8", "--num-test", "4", "--epochs", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_gray_to_rgb_feeds_a_3_channel_model(capsys):
    assert main(["train", "--arch", "vgg11", "--width", "0.125", "--dataset", "digits", "--gray-to-rgb",
                 "--num-train", "8", "--num-test", "4", "--epochs", "1", "--batch-size", "4", "--no-progress"]) == 0


def test_ctrl_c_prints_the_resume_command(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "fit", interrupted)
    argv = ["train", "--arch", "lenet5", "--dataset", "digits", "--num-train", "8", "--epochs", "1",
            "--out", str(tmp_path)]
    assert main(argv) == 130
    assert f"to continue: python -m minicnn {' '.join(argv)} --resume" in capsys.readouterr().err


def test_eval_of_a_file_that_is_not_a_run(tmp_path, capsys):
    np.savez(tmp_path / "x.npz", a=np.zeros(2))
    assert main(["eval", "--checkpoint", str(tmp_path / "x.npz")]) == 2
    assert "cannot read the checkpoint" in capsys.readouterr().err


def test_cli_resume_is_bit_exact_with_the_real_loader(tmp_path, capsys):
    from minicnn.train import read_checkpoint

    def train(out, epochs, *extra):
        return main(["train", "--arch", "lenet5", "--dataset", "digits",
                     "--num-train", "24", "--num-test", "8", "--batch-size", "8", "--epochs", str(epochs),
                     "--schedule", "step", "--no-progress", "--out", str(out), *extra])

    assert train(tmp_path / "a", 2) == 0 and train(tmp_path / "b", 1) == 0 and train(tmp_path / "b", 2, "--resume") == 0
    a, b = read_checkpoint(tmp_path / "a" / "last.npz"), read_checkpoint(tmp_path / "b" / "last.npz")
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        np.testing.assert_array_equal(a["model"][key], b["model"][key], err_msg=key)
    assert a["rng"] == b["rng"]
