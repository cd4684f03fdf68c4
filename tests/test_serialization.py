"""Checkpoint files: mc.save / mc.load round trips, damaged and foreign files, atomic writes."""
import errno
import json
import math
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minicnn as mc
from minicnn import nn


def assert_same(a, b):
    """Equal values of the same types, all the way down (NaN equals NaN)."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        assert [type(k) for k in a] == [type(k) for k in b]
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


# ---- round trips --------------------------------------------------------------------------
def test_checkpoint_round_trip(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = mc.optim.Adam(model.parameters(), lr=0.01)
    model(mc.tensor(np.ones((2, 3), np.float32))).sum().backward()
    opt.step()
    path = tmp_path / "ckpt.npz"
    mc.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, path)
    loaded = mc.load(path)
    assert loaded["epoch"] == 3
    restored = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    restored.load_state_dict(loaded["model"])
    for a, b in zip(model.parameters(), restored.parameters()):
        np.testing.assert_array_equal(a.array, b.array)
    opt2 = mc.optim.Adam(restored.parameters(), lr=0.01)
    opt2.load_state_dict(loaded["optimizer"])
    assert opt2.state_dict()["state"][0]["step"] == 1
    assert opt2.param_groups[0]["betas"] == (0.9, 0.999)


@pytest.mark.parametrize("obj", [
    {"a/b": np.ones(2), "a": {"b": np.zeros(2)}},
    {1: np.ones(2), "1": np.zeros(2)},
    {"x": np.ones(2), "x/": np.zeros(2)},
    {"__minicnn_layout__": np.ones(2), "w": np.zeros(2)},
    {"allow_pickle": np.ones(2), "file": np.zeros(2), "mmap_mode": np.full(2, 2.0)},
    {"": np.ones(1), "value": np.zeros(1), "arr_0": np.full(1, 2.0), "arr_1.npy": np.full(1, 3.0)},
], ids=["slash-vs-nesting", "int-vs-str", "trailing-slash", "layout-key", "numpy-keywords", "generated-names"])
def test_keys_that_once_collided_round_trip(tmp_path, obj):
    mc.save(obj, tmp_path / "c.npz")
    assert_same(mc.load(tmp_path / "c.npz"), obj)


HOSTILE_KEYS = st.one_of(
    st.sampled_from(["a/b", "a", "b", "0", "1", "x", "x/", "__minicnn_layout__", "arr_0", "allow_pickle"]),
    st.sampled_from(["", "/", "arr_0.npy", "file", "mmap_mode", "value", "dict", "clé", "層/0", "\x00", '"']),
    st.integers(-1, 1), st.integers(), st.text(max_size=4))
SMALL_ARRAYS = hnp.arrays(st.sampled_from([np.float32, np.float64, np.int64, np.uint8, np.bool_, np.complex64]),
                          hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
LEAVES = st.one_of(SMALL_ARRAYS, SMALL_ARRAYS, st.none(), st.booleans(), st.integers(), st.floats(),
                   st.text(max_size=5))
TREES = st.recursive(LEAVES, lambda children: st.one_of(
    st.dictionaries(HOSTILE_KEYS, st.one_of(SMALL_ARRAYS, children), max_size=4),
    st.lists(children, max_size=3),
    st.lists(children, max_size=3).map(tuple)), max_leaves=12)


@settings(max_examples=60)
@given(st.dictionaries(HOSTILE_KEYS, st.one_of(SMALL_ARRAYS, TREES), max_size=6))
@example({"a/b": np.ones(1), "a": {"b": np.zeros(1)}, 0: [np.ones(2)], "0": [np.zeros(2)]})
def test_round_trip_keeps_every_key_and_value(tmp_path_factory, obj):
    path = tmp_path_factory.mktemp("rt") / "c.npz"
    mc.save(obj, path)
    assert_same(mc.load(path), obj)


def test_tensors_are_saved_as_arrays(tmp_path):
    mc.save({"t": mc.tensor(np.arange(3.0), requires_grad=True)}, tmp_path / "c.npz")
    np.testing.assert_array_equal(mc.load(tmp_path / "c.npz")["t"], np.arange(3.0))


def test_save_refuses_what_it_cannot_store(tmp_path):
    with pytest.raises(TypeError, match="cannot save a object"):
        mc.save({"bad": object()}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="object arrays"):
        mc.save({"bad": np.array([None])}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="keys must be str or int, got float"):
        mc.save({1.5: np.ones(1)}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="got bool"):  # True would come back as 1
        mc.save({True: np.ones(1)}, tmp_path / "x.npz")
    assert os.listdir(tmp_path) == []


def test_checkpoints_of_the_earlier_format_still_load(tmp_path):
    """Before arrays got generated names, they were stored under their '/'-joined key."""
    layout = {"dict": [["model", False, {"dict": [["0.weight", False, {"array": "model/0.weight"}]]}],
                       [3, True, {"value": 7}]]}
    np.savez(tmp_path / "old.npz", **{"model/0.weight": np.ones(2),
                                      "__minicnn_layout__": np.frombuffer(json.dumps(layout).encode(), np.uint8)})
    assert_same(mc.load(tmp_path / "old.npz"), {"model": {"0.weight": np.ones(2)}, 3: 7})


# ---- damaged and foreign files -------------------------------------------------------------
@pytest.fixture
def good(tmp_path):
    """A valid checkpoint and its bytes."""
    path = tmp_path / "good.npz"
    mc.save({"w": np.arange(40.0).reshape(5, 8), "step": 3, "names": ["a", "b"]}, path)
    return path, path.read_bytes()


def assert_load_fails(path, what):
    with pytest.raises(ValueError, match=what) as caught:
        mc.load(path)
    assert "load:" in str(caught.value) and str(path) in str(caught.value)


def test_foreign_files_are_named_for_what_they_are(tmp_path):
    cases = {"empty": (b"", "is empty"),
             "text.txt": (b"epoch 3, loss 0.25\n", "not a .npz"),
             "random": (np.random.default_rng(0).bytes(300), "not a .npz")}
    for name, (content, what) in cases.items():
        (tmp_path / name).write_bytes(content)
        assert_load_fails(tmp_path / name, what)
    np.save(tmp_path / "single.npy", np.ones(3))
    assert_load_fails(tmp_path / "single.npy", r"single \.npy array")
    np.savez(tmp_path / "plain.npz", a=np.ones(2))
    assert_load_fails(tmp_path / "plain.npz", "without minicnn's layout record")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as z:
        z.writestr("readme.txt", "not numpy")
    assert_load_fails(tmp_path / "other.zip", "without minicnn's layout record")


def test_truncated_files_are_reported_as_damaged(tmp_path, good):
    _, content = good
    for length in (4, 30, 100, len(content) // 2, len(content) - 22, len(content) - 1):
        path = tmp_path / f"cut{length}.npz"
        path.write_bytes(content[:length])
        assert_load_fails(path, "is damaged")


def data_offset(path, member):
    """Where the stored bytes of zip member `member` begin in the file (after its local header)."""
    with zipfile.ZipFile(path) as archive:
        start = archive.getinfo(member).header_offset
    with open(path, "rb") as f:
        f.seek(start + 26)
        name_length, extra_length = struct.unpack("<HH", f.read(4))
    return start + 30 + name_length + extra_length


def test_damaged_members_and_layouts(tmp_path, good):
    source, content = good
    # A member whose stored bytes no longer match its CRC (a bit flipped on disk).
    flipped = bytearray(content)
    flipped[data_offset(source, "arr_0.npy") + 200] ^= 0xFF
    (tmp_path / "flipped.npz").write_bytes(bytes(flipped))
    assert_load_fails(tmp_path / "flipped.npz", "is damaged")
    # A compressed archive (numpy.savez_compressed) whose deflate stream is broken.
    layout = np.frombuffer(b'{"dict": [["w", false, {"array": "arr_0"}]]}', np.uint8)
    np.savez_compressed(tmp_path / "deflated.npz", arr_0=np.arange(500.0), __minicnn_layout__=layout)
    assert_same(mc.load(tmp_path / "deflated.npz"), {"w": np.arange(500.0)})
    broken = bytearray((tmp_path / "deflated.npz").read_bytes())
    broken[data_offset(tmp_path / "deflated.npz", "arr_0.npy")] = 0xFF  # deflate block type 3: invalid
    (tmp_path / "deflated.npz").write_bytes(bytes(broken))
    assert_load_fails(tmp_path / "deflated.npz", "is damaged: error")
    cases = {
        "missing-array": ('{"dict": [["w", false, {"array": "arr_0"}]]}', "arr_0.*lacks"),
        "bad-json": ('{"dict": [["w", false, {"arr', "is damaged"),
        "not-utf8": ('\udcff', "is damaged"),
        "unknown-kind": ('{"set": [1, 2]}', "malformed layout"),
        "two-kinds": ('{"value": 1, "list": []}', "malformed layout"),
        "bad-dict-entry": ('{"dict": [["w", {"value": 1}]]}', "is damaged"),
        "not-an-object": ('[1, 2]', "malformed layout"),
    }
    for name, (layout, what) in cases.items():
        encoded = layout.encode("utf-8", "surrogateescape")
        np.savez(tmp_path / f"{name}.npz", arr_1=np.ones(2), __minicnn_layout__=np.frombuffer(encoded, np.uint8))
        assert_load_fails(tmp_path / f"{name}.npz", what)


@settings(max_examples=80)
@given(st.data())
def test_any_corruption_loads_or_raises_a_value_error_naming_the_file(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "c.npz"
    mc.save({"w": np.arange(6.0), "opt": {"step": 2}}, path)
    content = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        content[data.draw(st.integers(0, len(content) - 1))] = data.draw(st.integers(0, 255))
    content = content[:data.draw(st.integers(0, len(content)))]
    path.write_bytes(bytes(content))
    try:
        mc.load(path)
    except ValueError as error:
        assert str(path) in str(error)


def test_os_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="load") as caught:
        mc.load(tmp_path / "missing.npz")
    assert caught.value.filename == str(tmp_path / "missing.npz")
    with pytest.raises(IsADirectoryError) as caught:
        mc.load(tmp_path)
    assert caught.value.filename == str(tmp_path)
    with pytest.raises(FileNotFoundError) as caught:
        mc.save({}, tmp_path / "no" / "such" / "folder.npz")
    assert caught.value.filename == str(tmp_path / "no" / "such" / "folder.npz")
    with pytest.raises(IsADirectoryError) as caught:
        mc.save({}, tmp_path)
    assert caught.value.filename == str(tmp_path)
    with pytest.raises(TypeError, match="load: path must be a str"):
        mc.load(3)


# ---- how the file is written ---------------------------------------------------------------
def test_new_files_follow_the_umask_and_replaced_files_keep_their_mode(tmp_path):
    previous = os.umask(0o027)
    try:
        mc.save({"w": np.ones(1)}, tmp_path / "new.npz")
        np.save(tmp_path / "reference.npy", np.ones(1))
    finally:
        os.umask(previous)
    mode = os.stat(tmp_path / "new.npz").st_mode & 0o777
    assert mode == os.stat(tmp_path / "reference.npy").st_mode & 0o777 == 0o640
    os.chmod(tmp_path / "new.npz", 0o604)
    mc.save({"w": np.zeros(1)}, tmp_path / "new.npz")
    assert os.stat(tmp_path / "new.npz").st_mode & 0o777 == 0o604


def test_saving_through_a_symlink_writes_its_target(tmp_path):
    (tmp_path / "runs").mkdir()
    target = tmp_path / "runs" / "epoch3.npz"
    mc.save({"w": np.ones(2)}, target)
    link = tmp_path / "latest.npz"
    link.symlink_to(target)
    mc.save({"w": np.zeros(2)}, link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    np.testing.assert_array_equal(mc.load(target)["w"], np.zeros(2))
    assert sorted(os.listdir(tmp_path)) == ["latest.npz", "runs"]
    assert os.listdir(tmp_path / "runs") == ["epoch3.npz"]


def unprivileged(check, folder):
    """Run check() in a forked child working in `folder`, as a user who cannot override file
    permissions (root may write anything, so as root the child becomes user 'nobody')."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read)
        try:
            os.chdir(folder)
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            check()
            report = "ok"
        except BaseException as error:  # noqa: BLE001 - reported to the parent
            report = f"{type(error).__name__}: {error}"
        os.write(write, report.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        report = pipe.read()
    os.waitpid(pid, 0)
    assert report == "ok", report


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_read_only_files_are_refused_as_numpy_refuses_them(tmp_path):
    """Writing over a file without write permission raises PermissionError naming it, as
    np.save does, even when the folder would allow replacing it."""
    def check():
        with pytest.raises(PermissionError):
            np.savez("ckpt.npz", w=np.ones(1))
        with pytest.raises(PermissionError, match="save") as caught:
            mc.save({"w": np.zeros(2)}, "ckpt.npz")
        assert caught.value.filename == "ckpt.npz"
        assert os.listdir(".") == ["ckpt.npz"]

    mc.save({"w": np.ones(2)}, tmp_path / "ckpt.npz")
    os.chmod(tmp_path / "ckpt.npz", 0o444)
    os.chmod(tmp_path, 0o777)
    unprivileged(check, tmp_path)
    np.testing.assert_array_equal(mc.load(tmp_path / "ckpt.npz")["w"], np.ones(2))


@pytest.mark.parametrize("failure", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()],
                         ids=["disk-full", "interrupted"])
def test_a_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch, failure):
    path = tmp_path / "ckpt.npz"
    mc.save({"w": np.ones(3)}, path)

    def fail(file, *args, **kwargs):
        file.write(b"PK\x03\x04 half a checkpoint")
        raise failure
    monkeypatch.setattr(np, "savez", fail)
    with pytest.raises(type(failure)) as caught:
        mc.save({"w": np.zeros(3)}, path)
    monkeypatch.undo()
    if isinstance(failure, OSError):
        assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(path)
    np.testing.assert_array_equal(mc.load(path)["w"], np.ones(3))
    assert os.listdir(tmp_path) == ["ckpt.npz"]  # no temporary file left behind


def finished_pid():
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_save_removes_only_its_own_stale_temporaries(tmp_path):
    host = socket.gethostname()
    dead, alive = finished_pid(), os.getppid()
    stale = [f".ckpt.npz.minicnn-tmp-{host}-{dead}-0123abcd",              # its process is gone
             f".ckpt.npz.minicnn-tmp-other-host-{alive}-0123abcd"]          # old (below)
    kept = [f".ckpt.npz.minicnn-tmp-{host}-{alive}-0123abcd",              # a save still running
            f".ckpt.npz.minicnn-tmp-other-host-{dead}-0123abcd",           # elsewhere, recent
            f".other.npz.minicnn-tmp-{host}-{dead}-0123abcd",              # another checkpoint's
            ".tmp-x1y2z3.npz", "ckpt.npz.bak", f".ckpt.npz.minicnn-tmp-{host}-{dead}-notours"]
    for name in stale + kept:
        (tmp_path / name).write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    os.utime(tmp_path / stale[1], (two_hours_ago, two_hours_ago))
    mc.save({"w": np.ones(1)}, tmp_path / "ckpt.npz")
    assert sorted(os.listdir(tmp_path)) == sorted(kept + ["ckpt.npz"])


SAVING_IN_A_LOOP = """
import sys, numpy as np, minicnn as mc
big = np.zeros(8 * 2**20)  # 64 MiB: long enough a write for the kill to land inside it
for step in range(1, 10**6):
    big[0] = step
    mc.save({"big": big, "step": step}, sys.argv[1])
"""


def test_kill_during_save_keeps_a_loadable_checkpoint_and_the_next_save_cleans_up(tmp_path):
    path = tmp_path / "ckpt.npz"
    stale = set()
    for _ in range(3):
        saver = subprocess.Popen([sys.executable, "-c", SAVING_IN_A_LOOP, str(path)])
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:  # wait until a save is under way after one finished
                if path.exists() and len(os.listdir(tmp_path)) > 1:
                    break
                time.sleep(0.005)
        finally:
            saver.send_signal(signal.SIGKILL)
            saver.wait()
        checkpoint = mc.load(path)
        assert checkpoint["big"][0] == checkpoint["step"] >= 1
        stale.update(name for name in os.listdir(tmp_path) if name != "ckpt.npz")
    assert stale  # at least one kill landed inside a write
    mc.save({"step": 0}, path)
    assert os.listdir(tmp_path) == ["ckpt.npz"]
