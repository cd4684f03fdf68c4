"""Training-step time of whole networks, minicnn against the same networks in PyTorch.

One step is: zero the gradients, forward, cross-entropy, backward, SGD with momentum 0.9, on a
float32 batch of random images and labels. The networks are the zoo's (minicnn.architectures),
and beside each one the same network written layer for layer in PyTorch (below); `--check`
copies minicnn's weights into it and compares the logits and the first step's gradients.

    LeNet-5      1x32x32   architectures.lenet.lenet5()
    ResNet-20    3x32x32   architectures.resnet.resnet_cifar(depth=20)
    ResNet-18    3x32x32   architectures.resnet.resnet18(width=0.5, input_size=32, num_classes=10)
    VGG-11       3x32x32   architectures.vgg.vgg11(width=0.5, input_size=32, num_classes=10)

Each measurement is a fresh process that runs only one framework (a subprocess per measurement;
the frameworks alternate, round after round), excludes the warm-up steps (Numba's compilation,
first allocations), and reports its median step time and its peak resident memory: the whole
process's (resource.getrusage). The table shows the medians over rounds.

The memory a step itself needs ("step MB": activations kept for backward, gradients,
workspaces) is measured in one more process per framework and network, with glibc's malloc
told to hand every freed block of 64 KiB or more back to the system at once
(MALLOC_MMAP_THRESHOLD_=65536, MALLOC_TRIM_THRESHOLD_=0): otherwise each framework's allocator
keeps what the warm-up freed, and the resident size shows how much it retained rather than
what the step used. On Linux the high-water mark is reset after the warm-up (clear_refs), and
"step MB" is how far it then rises above the resident size. Those settings slow allocation, so
that process is not timed.

    python benchmarks/bench_train_step.py                       # all networks, 3 rounds
    python benchmarks/bench_train_step.py --nets resnet20 --profile   # + minicnn's per-op times
    python benchmarks/bench_train_step.py --same-process        # PyTorch used in minicnn's process
    python benchmarks/bench_train_step.py --load 2              # beside 2 busy processes
    python benchmarks/bench_train_step.py --check               # the two definitions agree

--same-process: each measurement process imports both, runs a PyTorch step before each minicnn
step and times both; the table compares minicnn's step there with its own-process step, once
with torch imported first (its OpenMP threads then spin after each op, beside minicnn's: minicnn
warns about it) and once with minicnn imported first (its OMP_WAIT_POLICY=passive reaches
PyTorch's OpenMP, whose threads then sleep when idle).
--load N: N extra processes each multiply 512x512 matrices with NumPy (one thread each) for the
whole run and are killed at the end; the table shows each framework's slowdown against the same
run without them (measured first). Needs PyTorch (pip install torch); minicnn itself never
imports it.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

NETS = ("lenet5", "resnet20", "resnet18", "vgg11")
TITLES = {"lenet5": "LeNet-5 (1x32x32)", "resnet20": "ResNet-20 (3x32x32)",
          "resnet18": "ResNet-18 x0.5 (3x32x32)", "vgg11": "VGG-11 x0.5 (3x32x32)"}
LR, MOMENTUM = 0.01, 0.9


# ---- minicnn side --------------------------------------------------------------------------------
def minicnn_net(name: str, seed: int = 0):
    import numpy as np

    from minicnn import architectures

    generator = np.random.default_rng(seed)
    if name == "lenet5":
        return architectures.lenet.lenet5(generator=generator), (1, 32, 32)
    if name == "resnet20":
        return architectures.resnet.resnet_cifar(depth=20, generator=generator), (3, 32, 32)
    if name == "resnet18":
        return architectures.resnet.resnet18(width=0.5, input_size=32, num_classes=10,
                                             generator=generator), (3, 32, 32)
    return architectures.vgg.vgg11(width=0.5, input_size=32, num_classes=10, generator=generator), (3, 32, 32)


def minicnn_step_function(name: str, batch: int):
    import numpy as np

    import minicnn
    import minicnn.functional as F

    model, shape = minicnn_net(name)
    rng = np.random.default_rng(1)
    x = minicnn.tensor(rng.standard_normal((batch,) + shape, dtype=np.float32))
    y = minicnn.tensor(rng.integers(0, 10, batch))
    optimizer = minicnn.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def step(prof=None):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        if prof is None:
            optimizer.step()
        else:
            with prof.section("SGD.step"):
                optimizer.step()

    return step


# ---- PyTorch side: the same networks, layer for layer ----------------------------------------------
def torch_net(name: str):
    import torch
    from torch import nn

    class Residual(nn.Module):
        """minicnn.nn.Residual: relu(shortcut(x) + branch(x))."""

        def __init__(self, branch, shortcut=None):
            super().__init__()
            self.branch, self.shortcut, self.post_activation = branch, shortcut, nn.ReLU()

        def forward(self, x):
            identity = x if self.shortcut is None else self.shortcut(x)
            return self.post_activation(identity + self.branch(x))

    class ZeroPadShortcut(nn.Module):
        """architectures.resnet.ZeroPadShortcut: option A, subsample and zero-pad the channels."""

        def __init__(self, out_channels, stride):
            super().__init__()
            self.out_channels, self.stride = out_channels, stride

        def forward(self, x):
            x = x[:, :, ::self.stride, ::self.stride]
            return nn.functional.pad(x, (0, 0, 0, 0, 0, self.out_channels - x.shape[1]))

    def conv_bn(cin, cout, kernel, stride=1, padding=0):
        return [nn.Conv2d(cin, cout, kernel, stride, padding, bias=False), nn.BatchNorm2d(cout)]

    def basic_block(cin, cout, stride, shortcut):
        layers = conv_bn(cin, cout, 3, stride, 1) + [nn.ReLU()] + conv_bn(cout, cout, 3, 1, 1)
        return Residual(nn.Sequential(*layers), shortcut)

    def global_avg_pool():
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())

    if name == "lenet5":
        return nn.Sequential(nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2, 2),
                             nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2, 2),
                             nn.Conv2d(16, 120, 5), nn.Tanh(), nn.Flatten(),
                             nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, 10))
    if name == "resnet20":
        layers, channels = conv_bn(3, 16, 3, 1, 1) + [nn.ReLU()], 16
        for stage, cout in enumerate((16, 32, 64)):
            for index in range(3):
                stride = 2 if stage and not index else 1
                shortcut = None if stride == 1 and channels == cout else ZeroPadShortcut(cout, stride)
                layers.append(basic_block(channels, cout, stride, shortcut))
                channels = cout
        return nn.Sequential(*layers, global_avg_pool(), nn.Linear(64, 10))
    if name == "resnet18":
        layers, channels = conv_bn(3, 32, 7, 2, 3) + [nn.ReLU(), nn.MaxPool2d(3, 2, 1)], 32
        for stage, cout in enumerate((32, 64, 128, 256)):
            for index in range(2):
                stride = 2 if stage and not index else 1
                shortcut = (None if stride == 1 and channels == cout
                            else nn.Sequential(*conv_bn(channels, cout, 1, stride)))
                layers.append(basic_block(channels, cout, stride, shortcut))
                channels = cout
        return nn.Sequential(*layers, global_avg_pool(), nn.Linear(256, 10))
    layers, channels = [], 3
    for item in (32, "M", 64, "M", 128, 128, "M", 256, 256, "M", 256, 256, "M"):
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU()]
            channels = item
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(256, 2048), nn.ReLU(), nn.Dropout(0.5),
                         nn.Linear(2048, 2048), nn.ReLU(), nn.Dropout(0.5), nn.Linear(2048, 10))


def copy_weights(source, target) -> None:
    """minicnn parameters -> the PyTorch network's, in registration order (shapes must agree)."""
    import numpy as np
    import torch

    mine, theirs = list(source.parameters()), list(target.parameters())
    if [tuple(p.shape) for p in mine] != [tuple(p.shape) for p in theirs]:
        raise SystemExit("the PyTorch definition's parameters differ from minicnn's")
    with torch.no_grad():
        for a, b in zip(mine, theirs):
            b.copy_(torch.from_numpy(np.array(a.array)))


def torch_step_function(name: str, batch: int):
    import numpy as np
    import torch

    model = torch_net(name)
    shape = (1, 32, 32) if name == "lenet5" else (3, 32, 32)
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.standard_normal((batch,) + shape, dtype=np.float32))
    y = torch.from_numpy(rng.integers(0, 10, batch))
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def step(prof=None):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()

    return step


# ---- one measurement (child process) ---------------------------------------------------------------
def peak_rss_mb() -> float:
    """The process's resident-memory high-water mark since it started."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def status_mb(field: str) -> float | None:
    """VmRSS (resident now) or VmHWM (high-water mark) from /proc/self/status; None elsewhere."""
    try:
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith(field + ":"))
    except (OSError, StopIteration):
        return None
    return int(line.split()[1]) / 1024


def reset_peak_rss() -> bool:
    """Lower the high-water mark to the current resident size (Linux: clear_refs 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        return True
    except OSError:
        return False


def timed_steps(steps, warmup: int, repeats: int, budget_s: float) -> dict:
    """Warm up, then time the steps (each element of `steps` a step function run in turn, all
    of them every repeat) until `repeats` or `budget_s`, at least 3."""
    for _ in range(warmup):
        for step in steps:
            step()
    # the steps' own peak: from the resident size after the warm-up (compilation, first
    # allocations) to the high-water mark of the timed steps
    before = status_mb("VmRSS") if reset_peak_rss() else peak_rss_mb()
    times = [[] for _ in steps]
    spent = 0.0
    while len(times[0]) < 3 or (len(times[0]) < repeats and spent < budget_s):
        for index, step in enumerate(steps):
            start = time.perf_counter()
            step()
            times[index].append(time.perf_counter() - start)
            spent += times[index][-1]
    after = status_mb("VmHWM") or peak_rss_mb()
    return {"ms": [1e3 * statistics.median(t) for t in times], "peak_mb": peak_rss_mb(),
            "step_peak_mb": after - before}


def child(args) -> dict:
    if args.child == "minicnn":
        steps = [minicnn_step_function(args.net, args.batch)]
    elif args.child == "torch":
        steps = [torch_step_function(args.net, args.batch)]
    else:  # PyTorch's step, then minicnn's, in one process; "same": torch imported first
        if args.child == "same-minicnn-first":
            import minicnn  # noqa: F401  (its OMP_WAIT_POLICY=passive then reaches PyTorch's OpenMP)
        steps = [torch_step_function(args.net, args.batch), minicnn_step_function(args.net, args.batch)]
    result = timed_steps(steps, args.warmup, args.repeats, args.budget)
    if args.profile and args.child == "minicnn":
        import minicnn

        with minicnn.profile() as prof:
            for _ in range(3):
                steps[0](prof)
        result["profile"] = prof.table(limit=args.profile_rows)
    return result


def check(net: str, batch: int) -> str:
    """Copy minicnn's weights into the PyTorch network; compare logits and gradients of one step."""
    import numpy as np
    import torch

    import minicnn
    import minicnn.functional as F

    model, shape = minicnn_net(net)
    reference = torch_net(net)
    copy_weights(model, reference)
    for module in list(model.modules()) + list(reference.modules()):  # dropout off, BN in training mode
        if "Dropout" in type(module).__name__:
            module.eval()
    rng = np.random.default_rng(2)
    x = rng.standard_normal((batch,) + shape, dtype=np.float32)
    y = rng.integers(0, 10, batch)
    loss = F.cross_entropy(model(minicnn.tensor(x)), minicnn.tensor(y))
    loss.backward()
    theirs = torch.nn.functional.cross_entropy(reference(torch.from_numpy(x)), torch.from_numpy(y))
    theirs.backward()
    # |g - g_torch| / |g_torch| over each parameter's whole gradient. Where a max-pooling window
    # holds two nearly equal values, or a ReLU an input near 0, float32 rounding (more of it in
    # Winograd's transforms) may choose the other one, and the gradient then flows elsewhere:
    # VGG-11 at batch 8 differs by 4e-2 through one 2x2 window whose two largest inputs are
    # 0.79927665 and 0.79927704 in float64; ResNet-20 by 1.5e-2 through two ReLU inputs whose
    # sign minicnn's float32 forward (Winograd F(4x4, 3x3), rounding error ~1e-5 of the largest
    # output) gets wrong: minicnn's own float64 gradients agree with PyTorch's float32 ones to 2e-6.
    worst = max(float(np.linalg.norm(a.grad.array - b.grad.numpy()) / (np.linalg.norm(b.grad.numpy()) or 1))
                for a, b in zip(model.parameters(), reference.parameters()))
    return (f"{net}: loss {loss.item():.6f} vs {theirs.item():.6f}, gradients differ by at most "
            f"{worst:.1e} of their norm")


# ---- the parent: alternate processes, gather medians -------------------------------------------------
MALLOC_RETURNS_FREED = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}


def run_child(framework: str, net: str, args, profile=False, memory=False) -> dict:
    """One measurement process; memory=True: a short run whose allocator returns what is freed."""
    repeats, budget = (3, 0.0) if memory else (args.repeats, args.budget)
    command = [sys.executable, os.path.abspath(__file__), "--child", framework, "--net", net,
               "--batch", str(args.batch), "--warmup", str(args.warmup), "--repeats", str(repeats),
               "--budget", str(budget)]
    if profile:
        command += ["--profile", "--profile-rows", str(args.profile_rows)]
    env = dict(os.environ, **MALLOC_RETURNS_FREED) if memory else None
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"{framework} {net} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(nets, frameworks, args) -> dict:
    """{(framework, net): [result of each round]}, the frameworks alternating in each round and
    starting with a different one each round."""
    results = {}
    for round_index in range(args.rounds):
        order = frameworks if round_index % 2 == 0 else frameworks[::-1]
        for net in nets:
            for framework in order:
                result = run_child(framework, net, args)
                results.setdefault((framework, net), []).append(result)
                print(f"  round {round_index + 1} {framework:<18} {net:<9} {result['ms'][-1]:9.1f} ms",
                      file=sys.stderr, flush=True)
    return results


def median_of(results, key="ms", index=-1) -> float:
    return statistics.median(r[key][index] if key == "ms" else r[key] for r in results)


def start_load(count: int) -> list:
    """`count` processes multiplying matrices, one thread each, for at most an hour."""
    program = ("import time, numpy as np\n"
               "a = np.random.default_rng(0).standard_normal((512, 512))\n"
               "end = time.time() + 3600\n"
               "while time.time() < end:\n    a @ a\n")
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return [subprocess.Popen([sys.executable, "-c", program], env=env) for _ in range(count)]


def stop_load(processes) -> None:
    for process in processes:
        process.kill()
        process.wait()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nets", default=",".join(NETS), help=f"comma-separated, from {', '.join(NETS)}")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--rounds", type=int, default=3, help="processes per framework and network")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--repeats", type=int, default=200, help="timed steps per process, at most")
    p.add_argument("--budget", type=float, default=2.0, help="seconds of timed steps per process, at most")
    p.add_argument("--same-process", action="store_true")
    p.add_argument("--load", type=int, default=0, metavar="N")
    p.add_argument("--profile", action="store_true", help="minicnn's per-op breakdown, one process per net")
    p.add_argument("--profile-rows", type=int, default=25)
    p.add_argument("--check", action="store_true")
    p.add_argument("--child", choices=("minicnn", "torch", "same", "same-minicnn-first"), help=argparse.SUPPRESS)
    p.add_argument("--net", choices=NETS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return 0
    nets = [n.strip() for n in args.nets.split(",")]
    unknown = [n for n in nets if n not in NETS]
    if unknown:
        p.error(f"unknown nets {unknown}; choose from {', '.join(NETS)}")
    if args.check:
        for net in nets:
            print(check(net, 8))
        return 0

    print(f"batch {args.batch}, float32, SGD momentum {MOMENTUM}; {os.cpu_count()} cores; "
          f"load average {os.getloadavg()[0]:.2f} at the start; medians of {args.rounds} processes each")
    base = measure(nets, ["minicnn", "torch"], args)
    memory = {(f, net): run_child(f, net, args, memory=True)["step_peak_mb"]
              for net in nets for f in ("minicnn", "torch")}
    print(f"\n{'network':<26} {'minicnn ms':>10} {'torch ms':>9} {'ratio':>6}  "
          f"{'peak MB':>15} {'step MB':>15} {'ratio':>6}")
    for net in nets:
        mine, theirs = base[("minicnn", net)], base[("torch", net)]
        step_mb = memory[("minicnn", net)], memory[("torch", net)]
        print(f"{TITLES[net]:<26} {median_of(mine):>10.1f} {median_of(theirs):>9.1f} "
              f"{median_of(mine) / median_of(theirs):>5.2f}x  "
              f"{median_of(mine, 'peak_mb'):>7.0f} /{median_of(theirs, 'peak_mb'):>6.0f} "
              f"{step_mb[0]:>7.0f} /{step_mb[1]:>6.0f} {step_mb[0] / max(step_mb[1], 1e-9):>5.2f}x")
    if args.same_process:
        same = measure(nets, ["same", "same-minicnn-first"], args)
        print(f"\nPyTorch used in the same process (a PyTorch step before each minicnn step), imported "
              f"before minicnn (its OpenMP threads spin: minicnn warns) or after it:")
        print(f"{'network':<26} {'alone ms':>9} {'torch first':>12} {'ratio':>6} {'minicnn first':>14} {'ratio':>6} "
              f"{'torch alone':>12} {'torch first':>12} {'minicnn first':>14}")
        for net in nets:
            alone = median_of(base[("minicnn", net)])
            first, second = median_of(same[("same", net)]), median_of(same[("same-minicnn-first", net)])
            theirs = [median_of(base[("torch", net)]), median_of(same[("same", net)], index=0),
                      median_of(same[("same-minicnn-first", net)], index=0)]
            print(f"{TITLES[net]:<26} {alone:>9.1f} {first:>12.1f} {first / alone:>5.2f}x {second:>14.1f} "
                  f"{second / alone:>5.2f}x {theirs[0]:>12.1f} {theirs[1]:>12.1f} {theirs[2]:>14.1f}")
    if args.load:
        load = start_load(args.load)
        try:
            time.sleep(1.0)
            loaded = measure(nets, ["minicnn", "torch"], args)
        finally:
            stop_load(load)
        print(f"\nBeside {args.load} busy process{'es' if args.load > 1 else ''}:")
        print(f"{'network':<26} {'minicnn ms':>10} {'slowdown':>8} {'torch ms':>9} {'slowdown':>8} {'ratio':>6}")
        for net in nets:
            slow = {f: median_of(loaded[(f, net)]) / median_of(base[(f, net)]) for f in ("minicnn", "torch")}
            print(f"{TITLES[net]:<26} {median_of(loaded[('minicnn', net)]):>10.1f} {slow['minicnn']:>7.2f}x "
                  f"{median_of(loaded[('torch', net)]):>9.1f} {slow['torch']:>7.2f}x "
                  f"{slow['minicnn'] / slow['torch']:>5.2f}")
    if args.profile:
        for net in nets:
            result = run_child("minicnn", net, args, profile=True)
            print(f"\nminicnn {TITLES[net]}, 3 steps:\n{result['profile']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
