"""Weights files (issue 13, issue 18 item 3): ``--weights FILE`` on encode and decode, one-line errors
for missing, foreign or damaged files, and the layout of models/ (training apart, no import cycles,
each architecture described once)."""

from __future__ import annotations

import ast
import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from safetensors.torch import save_file  # noqa: E402

from fpcodec.bitstream.errors import ModelMismatchError, WeightsError  # noqa: E402
from fpcodec.codec import decode, encode  # noqa: E402
from fpcodec.codec.cli import main  # noqa: E402
from fpcodec.codec.io import VideoReader  # noqa: E402
from fpcodec.models.weights import read_weights, shipped_path  # noqa: E402

from conftest import DATA, assert_frames_equal, moving_video  # noqa: E402

CLIP = DATA / "odd" / "dispose_bgnd.gif"  # 100x100, 5 frames
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


def _perturbed(name: str, path: Path) -> Path:
    """The shipped weights of ``name`` with the head's biases moved: a file ``fpcodec train`` could
    have written (same tensors, same metadata), other bytes and other predictions."""
    wf = read_weights(shipped_path(name))
    tensors = {k: v.clone() for k, v in wf.tensors.items()}
    if name.endswith("-int"):
        tensors["out.bias"][:3] += 7  # mean corrections, in accumulator units
    else:
        tensors["out.bias"][:3] += 0.05
    save_file(tensors, str(path), metadata=wf.metadata)
    return path


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("fpcodec: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.fixture(scope="module")
def conv2d_weights(tmp_path_factory) -> Path:
    return _perturbed("conv2d", tmp_path_factory.mktemp("w") / "mine.safetensors")


def test_encode_and_decode_with_a_weights_file(conv2d_weights, tmp_path, capsys):
    stream, out = tmp_path / "c.fpc", tmp_path / "c.apng"
    assert (
        main(["encode", str(CLIP), "-o", str(stream), "-m", "conv2d", "--weights", str(conv2d_weights), "-q"])
        == 0
    )
    data = stream.read_bytes()
    assert hashlib.sha256(conv2d_weights.read_bytes()).digest() in data  # the header's weights hash
    frames = [f for f, _ in VideoReader(CLIP).frames()]
    assert_frames_equal(decode(data, weights=conv2d_weights).frames, frames)
    assert main(["decode", str(stream), "-o", str(out), "--weights", str(conv2d_weights), "-q"]) == 0
    assert_frames_equal([f for f, _ in VideoReader(out).frames()], frames)

    # Without the file, or with another one: the stream's weights hash says no, in one line.
    assert main(["decode", str(stream), "-o", str(tmp_path / "x.apng"), "-q"]) == 1
    assert "--weights" in _one_line_error(capsys)
    other = _perturbed("conv2d", tmp_path / "other.safetensors")
    other.write_bytes(other.read_bytes()[:-4] + b"\0\0\0\0")  # another valid file, other bytes
    assert main(["decode", str(stream), "-o", str(tmp_path / "x.apng"), "--weights", str(other), "-q"]) == 1
    assert "other.safetensors holds" in _one_line_error(capsys)
    assert not (tmp_path / "x.apng").exists()


def test_integer_model_round_trip_with_a_weights_file(tmp_path):
    frames = moving_video(3, 16, 24)
    mine = _perturbed("convlstm-hybrid-int", tmp_path / "mine-int.safetensors")
    data = encode(frames, model="convlstm-hybrid-int", weights=mine, use_palette=False)
    assert data != encode(frames, model="convlstm-hybrid-int", use_palette=False)
    assert_frames_equal(decode(data, weights=mine).frames, frames)
    with pytest.raises(ModelMismatchError, match="weights"):
        decode(data)
    with pytest.raises(ModelMismatchError):
        decode(data, weights=shipped_path("convlstm-hybrid-int"))


def _foreign_safetensors(path: Path) -> Path:
    save_file(
        {"encoder.weight": torch.zeros(4, 3), "decoder.bias": torch.zeros(4)},
        str(path),
        metadata={"framework": "something else"},
    )
    return path


@pytest.mark.parametrize(
    "model, make, message",
    [
        ("conv2d", _foreign_safetensors, "does not hold conv2d weights (missing tensors"),
        ("convlstm-hybrid-int", _foreign_safetensors, "is not an integer (fpcodec-int-v1) weights file"),
        (
            "conv2d",
            lambda p: p.write_bytes(b"GIF89a not weights at all") and p,
            "is not a safetensors weights file",
        ),
        (
            "convlstm-hybrid-int",
            lambda p: p.write_bytes(b"\xff" * 64) and p,
            "is not a safetensors weights file",
        ),
        (
            "convlstm-hybrid",
            lambda p: p.write_bytes(shipped_path("conv2d").read_bytes()) and p,
            "holds conv2d weights, not convlstm-hybrid weights (use -m conv2d)",
        ),
        (
            "convlstm-hybrid-int",
            lambda p: p.write_bytes(shipped_path("convlstm-hybrid").read_bytes()) and p,
            "holds float convlstm-hybrid weights (use -m convlstm-hybrid",
        ),
        (
            "conv2d",
            lambda p: p.write_bytes(shipped_path("conv2d-int").read_bytes()) and p,
            "holds integer conv2d-int weights, not float conv2d weights",
        ),
        ("conv2d", lambda p: p, "weights file not found"),
        ("last-frame", lambda p: p.write_bytes(shipped_path("conv2d").read_bytes()) and p, "has no weights"),
    ],
)
def test_a_foreign_weights_file_is_a_one_line_error(model, make, message, tmp_path, capsys):
    path = make(tmp_path / "w.safetensors")
    out = tmp_path / "c.fpc"
    assert main(["encode", str(CLIP), "-o", str(out), "-m", model, "--weights", str(path), "-q"]) == 1
    assert message in _one_line_error(capsys)
    assert not out.exists()


def test_a_damaged_integer_file_is_a_weights_error(tmp_path):
    wf = read_weights(shipped_path("conv2d-int"))
    for damage in ("drop", "shape", "geometry"):
        tensors, meta = dict(wf.tensors), dict(wf.metadata)
        if damage == "drop":
            del tensors["mid.shift"]
        elif damage == "shape":
            tensors["mid.weight"] = tensors["mid.weight"][:, :5].contiguous()
        else:
            meta["geometry"] = meta["geometry"].replace('"padding": [2, 2]', '"padding": [1, 1]')
        path = tmp_path / f"{damage}.safetensors"
        save_file(tensors, str(path), metadata=meta)
        with pytest.raises(WeightsError, match=f"{damage}.safetensors"):
            encode(moving_video(2, 8, 8), model="conv2d-int", weights=path)


def test_decoder_path_does_not_import_training():
    """Encoding and decoding with every predictor, and the CLI's parser, load no training code."""
    code = textwrap.dedent("""
        import sys
        import fpcodec.codec.cli, fpcodec.codec.pipeline
        from fpcodec.codec import decode, encode
        from fpcodec.models import registry
        import numpy as np
        fpcodec.codec.cli.build_parser()
        frames = [np.full((8, 8, 3), v, np.uint8) for v in (0, 9)]
        for name in registry.available():
            assert len(decode(encode(frames, model=name), device="cpu").frames) == 2
        print(sorted(m for m in sys.modules if m.startswith("fpcodec.models")))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    loaded = eval(out.stdout)
    assert "fpcodec.models.integer" in loaded and "fpcodec.models.learned" in loaded
    assert not [m for m in loaded if m.startswith("fpcodec.models.training")], loaded
    # ... and the inference modules hold no training code.
    from fpcodec.models import integer, learned
    from fpcodec.models.training import ptq

    assert not [n for n in ("convert", "calibrate", "quantize_conv", "main") if hasattr(integer, n)]
    assert not [n for n in ("train", "load_clips", "code_length") if hasattr(learned, n)]
    assert callable(ptq.convert)


def _relative_imports(path: Path, package: str) -> set[str]:
    """Modules of fpcodec.models that ``path`` imports, at any level of the file (also in functions)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".")[: len(package.split(".")) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
            names = [target] + [f"{target}.{a.name}" for a in node.names]
            out |= {n for n in names if n.startswith("fpcodec.models")}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("fpcodec.models")}
    return out


def test_no_import_cycles_in_models():
    modules = {}
    for path in MODELS_DIR.rglob("*.py"):
        parts = ["fpcodec", "models", *path.relative_to(MODELS_DIR).with_suffix("").parts]
        is_init = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_init else parts)
        modules[name] = (path, name if is_init else name.rsplit(".", 1)[0])
    graph = {
        m: {i for i in _relative_imports(p, pkg) if i in modules and i != m}
        for m, (p, pkg) in modules.items()
    }
    assert (
        "fpcodec.models.training.ptq"
        in graph["fpcodec.models.training.train"] | graph["fpcodec.models.training.qat"]
    )
    state: dict[str, int] = {}

    def visit(m: str, trail: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            assert state.get(n) != 1, "import cycle: " + " -> ".join(trail + [m, n])
            if n not in state:
                visit(n, trail + [m])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])


def test_float_and_integer_nets_are_built_from_one_description():
    from fpcodec.models import registry
    from fpcodec.models.arch import ARCHS
    from fpcodec.models.learned import build_net

    for name, arch in ARCHS.items():
        net = build_net(name)
        assert net.arch is arch
        keys = {k.rsplit(".", 1)[0] for k in net.state_dict()}
        assert keys == {spec.name for spec in arch.convs}
        integer_net = registry.get(f"{name}-int").net
        assert integer_net.arch is arch and list(integer_net.layers) == [spec.name for spec in arch.convs]
