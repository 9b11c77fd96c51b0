"""Integer-exact predictors (models/integer.py, issue 5): bounds, grids, determinism across threads
and devices."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fpcodec.bitstream import entropy  # noqa: E402
from fpcodec.models import integer, registry  # noqa: E402
from fpcodec.models.base import apply_coupling  # noqa: E402
from fpcodec.models.training import ptq  # noqa: E402
from fpcodec.models.weights import shipped_path  # noqa: E402

from conftest import CARPHONE, assert_frames_equal, read_video  # noqa: E402

INT_MODELS = [
    n
    for n in (
        "conv2d-int",
        "conv3d-hybrid-int",
        "convlstm-hybrid-int",
        "convlstm-unet-int",
        "convlstm-hybrid-pal-int",
    )
    if shipped_path(n).is_file()
]
MAIN = "convlstm-hybrid-int"
needs_main = pytest.mark.skipif(MAIN not in INT_MODELS, reason=f"{MAIN} weights not installed")


@pytest.fixture(scope="module")
def clip():
    frames, _, _ = read_video(CARPHONE)
    return frames[:6]


@pytest.fixture(scope="module")
def predictors():
    torch.set_num_threads(1)
    # The torch backend: these tests look into its torch layers (the numpy backend, the CPU
    # default, gives the same integers: tests/test_integer_numpy.py).
    return {n: type(registry.get(n))(backend="torch") for n in INT_MODELS}


def test_registry_ids_and_hash(predictors):
    ids = {
        "conv2d-int": 12,
        "conv3d-hybrid-int": 13,
        "convlstm-hybrid-int": 14,
        "convlstm-unet-int": 15,
        "convlstm-hybrid-pal-int": 16,
    }
    for name, p in predictors.items():
        assert p.model_id == ids[name] and registry.name_for_id(ids[name]) == name
        assert p.weights_hash == hashlib.sha256(p.weights_file.read_bytes()).digest()


# ------------------------------------------------------------------------ (1) accumulator bounds
def _worst_patch(layer, o: int, sign: float) -> torch.Tensor:
    """A kernel-sized input that drives output channel o's accumulator to its largest magnitude."""
    w = layer.weight[o].to(torch.float64)
    m = torch.as_tensor(layer.in_max).view(-1, *([1] * layer.dim))
    return (sign * torch.sign(w) * m).unsqueeze(0)


@pytest.mark.parametrize("name", INT_MODELS)
def test_accumulators_stay_below_2_24(predictors, name):
    for ln, layer in predictors[name].net.layers.items():
        bound = integer.accumulator_bound(layer.weight, layer.bias, layer.in_max)
        assert float(bound.max()) < integer.ACC_LIMIT, ln
        assert float(layer.weight.abs().max()) <= integer.W_MAX  # int12 at most
        conv = torch.nn.functional.conv2d if layer.dim == 2 else torch.nn.functional.conv3d
        for o in torch.topk(bound, min(3, layer.out_ch)).indices.tolist():
            for sign in (1.0, -1.0):
                x = _worst_patch(layer, o, sign)
                exact = float(conv(x, layer.weight[o : o + 1].double(), layer.bias[o : o + 1].double()))
                assert abs(exact) <= float(bound[o]) < integer.ACC_LIMIT
                # The worst case is attained (up to the bias sign), so the bound is not loose.
                assert abs(exact) >= float(bound[o]) - 2 * abs(float(layer.bias[o]))
                got = conv(x.float(), layer.weight[o : o + 1].float(), layer.bias[o : o + 1].float())
                assert float(got) == exact, (ln, o)
        # Whole layer on random maximal-magnitude inputs: float32 kernel == float64 reference.
        g = torch.Generator().manual_seed(0)
        shape = (1, len(layer.in_max)) + ((3,) if layer.dim == 3 else ()) + (12, 12)
        m = torch.as_tensor(layer.in_max, dtype=torch.float64).view(1, -1, *([1] * (layer.dim)))
        x = (torch.randint(0, 2, shape, generator=g) * 2 - 1) * m
        ref = conv(x, layer.weight.double(), layer.bias.double(), layer.stride, layer.padding)
        got = conv(x.float(), layer.weight.float(), layer.bias.float(), layer.stride, layer.padding)
        assert torch.equal(got.double(), ref), ln


def test_bound_check_rejects_a_layer_that_could_round():
    w = torch.full((4, 35, 5, 5), 127.0)  # conv2d's input layer, all weights at int8 max
    b = torch.zeros(4)
    in_max = np.full(35, 510.0)
    with pytest.raises(ValueError, match="accumulator bound"):
        integer.check_bound(w, b, in_max)  # 875 * 127 * 510 > 2^24
    assert integer.check_bound(w[:, :1], b, in_max[:1]) < integer.ACC_LIMIT
    with pytest.raises(ValueError, match="integers"):
        integer.check_bound(w + 0.5, b, in_max)
    # The quantizer widens weight scales instead of producing such a layer.
    q, _ = ptq.quantize_conv(
        torch.ones(4, 35, 5, 5), torch.zeros(4), np.full(35, 1.0), in_max, np.full(4, 1.0), 0, -100, 100
    )
    assert integer.check_bound(q["weight"], q["bias"], in_max) < integer.ACC_LIMIT


@needs_main
def test_loading_refuses_a_file_over_the_bound(tmp_path):
    from safetensors.torch import save_file

    tensors, meta, _ = integer.load_int_weights(shipped_path("convlstm-hybrid-int"))
    tensors["mid.bias"] = tensors["mid.bias"].clone()
    tensors["mid.bias"][0] = integer.ACC_LIMIT
    bad = tmp_path / "bad-int.safetensors"
    save_file(tensors, str(bad), metadata=meta)
    with pytest.raises(ValueError, match="accumulator bound"):
        registry.get(MAIN).__class__(weights=bad)


@needs_main
def test_loading_refuses_an_output_clamp_beyond_int16(tmp_path):
    """predict_ints gives the coupling planes as int16: an output layer that could clamp beyond it
    is refused when loaded, not wrapped around when predicting."""
    from safetensors.torch import save_file

    tensors, meta, _ = integer.load_int_weights(shipped_path("convlstm-hybrid-int"))
    tensors["out.hi"] = tensors["out.hi"].clone()
    tensors["out.hi"][8] = 1 << 15
    bad = tmp_path / "wide-int.safetensors"
    save_file(tensors, str(bad), metadata=meta)
    with pytest.raises(ValueError, match=r"output clamp -4096\.\.32768 is outside \+-32767"):
        registry.get(MAIN).__class__(weights=bad)


# ------------------------------------------------------------------------------- (3) exact grids
@pytest.mark.parametrize("name", INT_MODELS)
def test_outputs_on_the_coder_grids(predictors, clip, name):
    p = predictors[name]
    table = set(entropy.SCALE_TABLE.astype(np.float32).tolist())
    for n in (1, 2, 5):
        hist = clip[:n]
        pred = p.predict(hist)
        m, s, c = p.predict_ints(hist)
        assert pred.mean.dtype == pred.scale.dtype == pred.coupling.dtype == np.float32
        assert pred.mean.shape == pred.scale.shape == pred.coupling.shape == (3, 96, 96)
        assert np.array_equal(pred.mean * 16, np.rint(pred.mean * 16))
        assert np.array_equal(entropy.quantize_mean(pred.mean), m)
        assert set(np.unique(pred.scale).tolist()) <= table
        assert np.array_equal(entropy.quantize_scale(pred.scale), s)
        assert np.array_equal(pred.coupling * 256, c) and np.abs(c).max() <= 512  # k/256, |c| <= 2
    # RGBA: alpha comes from the last-frame rule, RGB unchanged.
    rgba = [np.concatenate([f, np.full(f.shape[:2] + (1,), 255, np.uint8)], -1) for f in clip[:3]]
    p4, p3 = p.predict(rgba), p.predict(clip[:3])
    assert p4.mean.shape == (4, 96, 96) and np.array_equal(p4.mean[:3], p3.mean)


@pytest.mark.parametrize("name", INT_MODELS)
def test_float64_path_gives_the_same_integers(predictors, clip, name):
    """The GPU path computes in float64: on CPU too it must give exactly the float32 integers."""
    p = predictors[name]
    tensors, meta, _ = integer.load_int_weights(p.weights_file)
    net64 = integer.IntegerNet(tensors, meta, torch.device("cpu"), dtype=torch.float64)
    for n in (1, 5):
        frames, valid = integer.window_from_history(clip[:n])
        for a, b in zip(p.net.forward(frames, valid), net64.forward(frames, valid), strict=True):
            assert torch.equal(a.double(), b.double())


def test_apply_coupling_on_the_fixed_point_grid():
    """Worst cases of the fixed-point coupling (means k/16, |c| <= 2 in 1/256): float32
    apply_coupling is exact for G, and for B within 2^-12 of the exact value (two correctly
    rounded float32 operations, see the integer.py docstring)."""
    rng = np.random.default_rng(0)
    n = 20000
    ext = lambda hi: rng.choice([0, hi], (3, n))  # noqa: E731 - extremes
    mean = ext(4080).astype(np.float32) / 16
    mean[:, : n // 2] = rng.integers(0, 4081, (3, n // 2)) / np.float32(16)
    coupling = (rng.choice([-512, 512, -511, 511], (3, n)) / np.float32(256)).astype(np.float32)
    coupling[:, : n // 2] = rng.integers(-512, 513, (3, n // 2)) / np.float32(256)
    decoded = ext(255).astype(np.uint8)
    decoded[:, : n // 2] = rng.integers(0, 256, (3, n // 2))
    m64, c64, d64 = mean.astype(np.float64), coupling.astype(np.float64), decoded.astype(np.float64)
    r = d64[0] - m64[0]
    g_mean = m64[1] + c64[0] * r  # float64 is exact here (< 2^31 units of 2^-20)
    b_mean = m64[2] + c64[1] * r + c64[2] * (d64[1] - g_mean)
    g = apply_coupling(mean, coupling, 1, decoded)
    b = apply_coupling(mean, coupling, 2, decoded)
    assert g.dtype == b.dtype == np.float32
    assert np.array_equal(g.astype(np.float64), g_mean)
    assert np.abs(b.astype(np.float64) - b_mean).max() < 2.0**-12


# --------------------------------------------------------------- (2) determinism across threads
_SCRIPT = textwrap.dedent("""
    import sys, json, numpy as np, torch
    torch.set_num_threads(int(sys.argv[1]))
    from fpcodec.codec import encode
    from fpcodec.codec.pipeline import Decoder
    from fpcodec.codec.io import VideoReader
    import io
    action, path, model = sys.argv[2], sys.argv[3], sys.argv[4]
    frames = [f for f, _ in VideoReader(sys.argv[5]).frames()][:6]
    palette = path.endswith("p.fpc")
    if action == "encode":
        open(path, "wb").write(encode(frames, model=model, use_palette=palette))
    else:
        import numba
        out = list(Decoder(io.BytesIO(open(path, "rb").read())))  # raises on a CRC mismatch
        ok = len(out) == len(frames) and all(np.array_equal(d.pixels, f) for d, f in zip(out, frames))
        print(json.dumps({"ok": bool(ok), "modes": [d.mode for d in out],
                          "threads": [torch.get_num_threads(), numba.get_num_threads()]}))
""")


def _run(threads: int, action: str, path, model: str = MAIN) -> str:
    # numba: the palette weight kernel's threads; OpenBLAS: the numpy backend's GEMMs (CPU default)
    env = {**os.environ, "NUMBA_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads)}
    res = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(threads), action, str(path), model, str(CARPHONE)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


@needs_main
@pytest.mark.parametrize("kind, mode", [("rgb", 1), ("p", 3)])
def test_encode_and_decode_with_different_thread_counts(tmp_path, kind, mode):
    """RGB streams (mode 1: inter) and palette streams (mode 3: palette inter, whose rows come
    from the compiled weight kernel): torch and numba thread counts change nothing."""
    s1, s2 = tmp_path / f"t1{kind}.fpc", tmp_path / f"t2{kind}.fpc"
    _run(1, "encode", s1)
    _run(2, "encode", s2)
    assert s1.read_bytes() == s2.read_bytes()
    for threads, path in ((2, s1), (1, s2)):
        info = json.loads(_run(threads, "decode", path).strip().splitlines()[-1])
        assert info["ok"] and info["threads"] == [threads, threads]
        assert mode in info["modes"]  # inter frames: the predictions were used


# --------------------------------------------------------------------------- (4) GPU vs CPU
@needs_main
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
def test_encode_on_gpu_decode_on_cpu(clip):
    from fpcodec.codec import decode, encode

    gpu = registry.get(MAIN, device="cuda")
    cpu = registry.get(MAIN, device="cpu")
    assert gpu.net.device.type == "cuda"
    for n in (1, 2, 5):
        for a, b in zip(gpu.predict_ints(clip[:n]), cpu.predict_ints(clip[:n]), strict=True):
            assert np.array_equal(a, b)
    data = encode(clip, model=MAIN, use_palette=False, device="cuda")
    assert data == encode(clip, model=MAIN, use_palette=False, device="cpu")
    video = decode(data, device="cpu")
    assert_frames_equal(video.frames, clip)


@pytest.mark.parametrize("command, needed", [("convert", "--train"), ("compare", "--val")])
def test_integer_cli_names_its_data_folders(command, needed, capsys) -> None:
    """No corpus path is built in: convert and compare refuse to run without their folders."""
    from fpcodec.models.training import integer as integer_cli

    with pytest.raises(SystemExit) as exc:
        integer_cli.main([command, "--models", "conv2d"])
    assert exc.value.code == 2 and needed in capsys.readouterr().err
