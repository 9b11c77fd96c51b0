"""Train a learned predictor on the codec's exact code length: bits per subpixel as the RGB modes
pay it (``--loss rgb``, the default) or bits per pixel as palette frames pay it (``--loss palette``).

Core entry: ``train(data_dirs, model_name, out_path, ...)``; command line:
``fpcodec train DIR [DIR ...] --val DIR [...] --model convlstm-hybrid -o W`` (or
``python -m fpcodec.models.training.train``)
(``add_arguments`` / ``run`` let the ``fpcodec train`` CLI reuse the same options).

Data: every GIF / video under the given folders is decoded once with the codec's ``VideoReader``
(``data.py``) into uint8 RGB frames and kept in memory. A training example is a target frame with its history (up to 5 previous frames,
sometimes deliberately shorter so start-of-video frames are learned too), a random crop, random
horizontal/vertical flips and random time reversal. Validation runs on full frames of the held-out
folders after every epoch (every frame but the first of each clip, all histories as the codec sees
them) and reports the loss's bits next to the last-frame predictor's under the same loss.

Outputs: ``out_path`` (safetensors, best validation so far, metadata has the model name and val
bits), ``<out>.ckpt.safetensors`` (latest weights and Adam state) and ``<out>.ckpt.json`` (step,
epoch, elapsed time, RNG state) so that ``resume=`` continues a run.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ...bitstream.errors import FpcodecError, InputError
from ...bitstream.palette import MAX_COLOURS
from ..arch import ARCHS
from ..base import HISTORY
from ..last_frame import last_frame_params
from ..learned import base_log_scale, build_net, head_params, load_weights, step_inputs
from .data import load_clips, most_colours
from .loss import code_length, compiled_rows, palette_code_length, palette_row_log_prob

#: Training losses: ``rgb``, bits per subpixel as the RGB modes code them; ``palette``, bits per
#: pixel of the true palette entry under the model row mixed with the previous colour
#: (``loss.palette_code_length``), what palette frames, nearly every GIF frame, pay.
LOSSES = {"rgb": "bits/subpixel", "palette": "bits/pixel"}


class WindowSampler:
    """Random (history, target) crops from in-memory clips."""

    def __init__(
        self, clips: list[np.ndarray], crop: int, rng: np.random.Generator, short_prob: float = 0.15
    ) -> None:
        self.clips = clips
        self.crop = crop
        self.rng = rng
        self.short_prob = short_prob
        w = np.array([(len(c) - 1) * c.shape[1] * c.shape[2] / (96.0 * 96.0) for c in clips])
        self.p = w / w.sum()

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rng = self.rng
        # Crops never exceed the smallest frame, so every window in a batch has one shape.
        c = self.crop
        ch = min(c, min(self.clips[i].shape[1] for i in range(len(self.clips))))
        cw = min(c, min(self.clips[i].shape[2] for i in range(len(self.clips))))
        frames = np.empty((size, HISTORY + 1, ch, cw, 3), np.uint8)
        valid = np.zeros((size, HISTORY), np.float32)
        for b in range(size):
            clip = self.clips[rng.choice(len(self.clips), p=self.p)]
            if rng.random() < 0.5:
                clip = clip[::-1]
            n = len(clip)
            t = int(rng.integers(1, n))
            length = min(HISTORY, t)
            if rng.random() < self.short_prob:
                length = int(rng.integers(1, length + 1))
            idx = list(range(t - length, t))
            idx = [idx[0]] * (HISTORY - length) + idx + [t]
            y0 = int(rng.integers(0, clip.shape[1] - ch + 1))
            x0 = int(rng.integers(0, clip.shape[2] - cw + 1))
            win = clip[idx, y0 : y0 + ch, x0 : x0 + cw]
            if rng.random() < 0.5:
                win = win[:, :, ::-1]
            if rng.random() < 0.5:
                win = win[:, ::-1]
            frames[b] = win
            valid[b, HISTORY - length :] = 1.0
        x = torch.from_numpy(frames).permute(0, 1, 4, 2, 3).float()  # (B, T+1, 3, H, W)
        return x[:, :HISTORY].contiguous(), torch.from_numpy(valid), x[:, HISTORY].contiguous()


def clip_windows(clip: np.ndarray):
    """Every (history window, valid flags, target) of a clip as the codec sees them, t = 1..N-1."""
    n = len(clip)
    for t in range(1, n):
        length = min(HISTORY, t)
        idx = list(range(t - length, t))
        idx = [idx[0]] * (HISTORY - length) + idx
        valid = np.zeros(HISTORY, np.float32)
        valid[HISTORY - length :] = 1.0
        yield idx, valid, t


# --------------------------------------------------------------------------------------------------
# Loss and evaluation
# --------------------------------------------------------------------------------------------------


def batch_bits(
    net, frames, valid, target, noise_std: float = 0.0, loss: str = "rgb", rows=palette_row_log_prob
) -> torch.Tensor:
    """Code length of ``target`` given history ``frames`` (0..255): per subpixel (B, 3, H, W) for
    the ``rgb`` loss, per pixel of each image (B,) for the ``palette`` loss (the last history frame
    is the previous frame whose colours it votes for)."""
    inputs = frames
    if noise_std > 0:
        inputs = frames + noise_std * torch.randn_like(frames)
    raw = net(step_inputs(inputs, valid))
    mean, scale, coupling = head_params(raw, frames[:, -1], base_log_scale(frames, valid))
    if loss == "palette":
        return palette_code_length(target, mean, scale, coupling, frames[:, -1], rows)
    return code_length(target, mean, scale, coupling)


def _summed(bits: torch.Tensor, target: torch.Tensor) -> tuple[float, int]:
    """(total bits, units) of a batch's ``batch_bits``: subpixels, or pixels for per-image figures."""
    if bits.dim() == 1:  # bits per pixel of each image
        pixels = target.shape[-2] * target.shape[-1]
        return float(bits.double().sum()) * pixels, pixels * bits.numel()
    return float(bits.double().sum()), bits.numel()


@torch.no_grad()
def evaluate(
    net, clips: list[np.ndarray], device, chunk: int = 8, loss: str = "rgb", rows=palette_row_log_prob
) -> float:
    """Bits per RGB subpixel (``rgb``) or per pixel (``palette``) over all frames but the first of
    every clip (full frames)."""
    was_training = net.training
    net.eval()
    total, count = 0.0, 0
    if loss == "palette":
        chunk = 1  # (pixels x palette) planes: one frame at a time
    for clip in clips:
        xs = torch.from_numpy(np.ascontiguousarray(clip.transpose(0, 3, 1, 2))).float()
        wins = list(clip_windows(clip))
        for s in range(0, len(wins), chunk):
            part = wins[s : s + chunk]
            frames = torch.stack([xs[idx] for idx, _, _ in part]).to(device)
            valid = torch.from_numpy(np.stack([v for _, v, _ in part])).to(device)
            target = torch.stack([xs[t] for _, _, t in part]).to(device)
            bits, units = _summed(batch_bits(net, frames, valid, target, loss=loss, rows=rows), target)
            total += bits
            count += units
    net.train(was_training)
    return total / max(count, 1)


def evaluate_last_frame(clips: list[np.ndarray], loss: str = "rgb") -> float:
    """The last-frame predictor's bits under the same loss and windows."""
    total, count = 0.0, 0
    for clip in clips:
        for t in range(1, len(clip)):
            hist = list(clip[max(0, t - HISTORY) : t])
            pred = last_frame_params(hist)
            x = torch.from_numpy(clip[t].transpose(2, 0, 1)[None].astype(np.float32))
            mean = torch.from_numpy(pred.mean[None, :3])
            scale = torch.from_numpy(pred.scale[None, :3].astype(np.float32))
            if loss == "palette":
                previous = torch.from_numpy(clip[t - 1].transpose(2, 0, 1)[None].astype(np.float32))
                bits = palette_code_length(x, mean, scale, None, previous)
            else:
                bits = code_length(x, mean, scale, None)
            b, units = _summed(bits, x)
            total += b
            count += units
    return total / max(count, 1)


# --------------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------------


def save_weights(net, path: Path, metadata: dict[str, str]) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    tmp = path.with_name(path.name + ".tmp")
    save_file(state, str(tmp), metadata=metadata)
    os.chmod(tmp, 0o644)
    tmp.replace(path)


def _ckpt_paths(out_path: Path) -> tuple[Path, Path]:
    stem = out_path.name.removesuffix(".safetensors")
    return out_path.with_name(stem + ".ckpt.safetensors"), out_path.with_name(stem + ".ckpt.json")


def save_checkpoint(net, opt, out_path: Path, info: dict) -> None:
    from safetensors.torch import save_file

    wpath, jpath = _ckpt_paths(out_path)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    for i, p in enumerate(net.parameters()):
        st = opt.state.get(p, {})
        for key in ("exp_avg", "exp_avg_sq"):
            if key in st:
                tensors[f"opt.{i}.{key}"] = st[key].detach().cpu().contiguous()
        if "step" in st:
            tensors[f"opt.{i}.step"] = torch.as_tensor(st["step"], dtype=torch.float32).reshape(1)
    tmp = wpath.with_name(wpath.name + ".tmp")
    save_file(tensors, str(tmp))
    tmp.replace(wpath)
    jpath.write_text(json.dumps(info, indent=1))


def load_checkpoint(net, opt, resume: str | Path, device) -> dict:
    from safetensors.torch import load_file

    resume = Path(resume)
    if resume.suffix == ".json":
        jpath = resume
        wpath = resume.with_name(resume.name.removesuffix(".json") + ".safetensors")
    else:
        wpath, jpath = (
            _ckpt_paths(resume)
            if not resume.name.endswith(".ckpt.safetensors")
            else (resume, resume.with_name(resume.name.removesuffix(".safetensors") + ".json"))
        )
    tensors = load_file(str(wpath))
    net.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    for i, p in enumerate(net.parameters()):
        if f"opt.{i}.exp_avg" in tensors:
            opt.state[p] = {
                "step": torch.tensor(float(tensors[f"opt.{i}.step"][0])),
                "exp_avg": tensors[f"opt.{i}.exp_avg"].to(device),
                "exp_avg_sq": tensors[f"opt.{i}.exp_avg_sq"].to(device),
            }
    return json.loads(jpath.read_text())


# --------------------------------------------------------------------------------------------------
# Training loop
# --------------------------------------------------------------------------------------------------


def _device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _fake_quant(model_name: str, net, data_dirs, clips, seed: int):
    """QAT's fake quantization, its ReLU ranges calibrated as ``ptq.convert`` calibrates them:
    on windows drawn alike from every sub-folder of the training folders (or of the preloaded
    clips, when there are no folders)."""
    from . import ptq
    from .qat import FakeQuant

    net.eval()
    if data_dirs:
        windows = ptq.corpus_calibration_windows(
            data_dirs, ptq.CALIB_CLIPS, ptq.CALIB_PER_CLIP, ptq.CALIB_CROP, seed
        )
    else:
        windows = ptq.calibration_windows(
            clips, ptq.CALIB_PER_CLIP, ptq.CALIB_CROP, np.random.default_rng(seed)
        )
    fake_quant = FakeQuant.from_windows(model_name, net, windows)
    net.train()
    return fake_quant


def _palettized(clips: list[np.ndarray], role: str, log) -> list[np.ndarray]:
    """The clips whose every frame has at most MAX_COLOURS colours (a palette frame's: what the
    palette loss can score); says how many were left out, and refuses when none is left."""
    kept = [c for c in clips if most_colours(c) <= MAX_COLOURS]
    if clips and not kept:
        raise InputError(
            f"the palette loss needs clips of at most {MAX_COLOURS} colours a frame; none of the {len(clips)} {role} clips is"
        )
    if len(kept) < len(clips):
        log(
            f"palette loss: left out {len(clips) - len(kept)} {role} clips with frames of over {MAX_COLOURS} colours"
        )
    return kept


def train(
    data_dirs,
    model_name: str,
    out_path,
    *,
    val_dirs=(),
    epochs: int | None = None,
    steps: int | None = None,
    steps_per_epoch: int = 250,
    time_budget_s: float | None = None,
    crop: int = 64,
    batch: int = 16,
    lr: float = 2e-3,
    min_lr_frac: float = 0.05,
    seed: int = 0,
    device: str = "auto",
    noise_std: float = 0.0,
    resume=None,
    progress: bool = True,
    threads: int | None = None,
    clips=None,
    val_clips=None,
    init=None,
    qat: bool = False,
    loss: str = "rgb",
    compile_loss: bool = False,
    log=print,
) -> dict:
    """Train ``model_name`` and write its best-validation weights to ``out_path``.

    Stops after ``steps`` optimizer steps, ``epochs`` epochs of ``steps_per_epoch`` steps, or
    ``time_budget_s`` seconds, whichever comes first (at least one must be given). The learning rate
    follows a cosine from ``lr`` down to ``min_lr_frac * lr`` over that horizon. ``noise_std``
    (pixel levels) adds Gaussian noise to the network's view of the history frames during training.
    ``clips`` / ``val_clips`` may pass preloaded uint8 (N, H, W, 3) arrays instead of folders.
    ``init`` starts from a weights file (fine-tuning); ``qat`` trains with the integer model's
    rounding simulated (``qat.FakeQuant``), for ``ptq.convert`` to quantize afterwards. ``loss``:
    a key of ``LOSSES`` (``palette`` needs clips of at most 256 colours a frame); ``compile_loss``
    runs the palette loss's rows through ``torch.compile`` (``loss.compiled_rows``).
    Returns a summary dict (val bits per subpixel, last-frame reference, steps, seconds).
    """
    if model_name not in ARCHS:
        raise KeyError(f"unknown learned model {model_name!r}; choose from {sorted(ARCHS)}")
    if epochs is None and steps is None and time_budget_s is None:
        raise ValueError("give epochs, steps or time_budget_s")
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose from {sorted(LOSSES)}")
    unit = LOSSES[loss]
    rows = compiled_rows() if compile_loss and loss == "palette" else palette_row_log_prob
    if threads:
        torch.set_num_threads(threads)
    out_path = Path(out_path)
    dev = _device(device)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)

    t_load = time.perf_counter()
    train_clips = clips if clips is not None else load_clips(data_dirs)
    vclips = val_clips if val_clips is not None else (load_clips(val_dirs) if val_dirs else [])
    if loss == "palette":  # a frame of more colours is not coded over a palette
        train_clips, vclips = (
            _palettized(train_clips, "training", log),
            _palettized(vclips, "validation", log),
        )
    if not train_clips:
        raise InputError(f"no training clips found under {list(data_dirs)}")
    n_frames = sum(len(c) for c in train_clips)
    log(
        f"loaded {len(train_clips)} training clips ({n_frames} frames), {len(vclips)} val clips "
        f"in {time.perf_counter() - t_load:.1f}s; device {dev}"
    )

    net = build_net(model_name).to(dev)
    n_params = sum(p.numel() for p in net.parameters())
    if init is not None:
        load_weights(net, Path(init))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    info = {"step": 0, "epoch": 0, "elapsed_s": 0.0, "best_val": None, "history": []}
    if resume is not None:
        info.update(load_checkpoint(net, opt, resume, dev))
        if info.get("rng_state"):
            rng.bit_generator.state = info["rng_state"]
        log(f"resumed from {resume} at step {info['step']}")
    sampler = WindowSampler(train_clips, crop, rng)
    fake_quant = _fake_quant(model_name, net, data_dirs, train_clips, seed) if qat else None

    def refresh() -> None:  # QAT: the integer weights follow the float ones
        if fake_quant is not None:
            fake_quant.refresh()

    lf_val = evaluate_last_frame(vclips, loss) if vclips else None
    refresh()
    init_val = evaluate(net, vclips, dev, loss=loss, rows=rows) if vclips else None
    if lf_val is not None:
        log(
            f"last-frame val: {lf_val:.4f} {unit} ({loss} loss); model {model_name}: {n_params} parameters, "
            f"val before training {init_val:.4f}"
        )
    if init is not None and resume is None and init_val is not None:
        # Fine-tuning: the starting weights are the score to beat, and the output until beaten.
        info["best_val"] = init_val
        save_weights(
            net,
            out_path,
            {
                "model": model_name,
                "val_bits": f"{init_val:.5f}",
                "step": "0",
                "qat": str(int(qat)),
                "loss": loss,
            },
        )

    total_steps = steps
    if epochs is not None:
        total_steps = min(total_steps or 10**12, epochs * steps_per_epoch)

    def frac_done(step: int, elapsed: float) -> float:
        f = 0.0
        if total_steps:
            f = max(f, step / total_steps)
        if time_budget_s:
            f = max(f, elapsed / time_budget_s)
        return min(f, 1.0)

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total_steps, initial=info["step"], unit="step", dynamic_ncols=True, mininterval=2.0)
    start = time.perf_counter() - info["elapsed_s"]
    step = info["step"]
    running = None
    net.train()
    while frac_done(step, time.perf_counter() - start) < 1.0:
        for _ in range(steps_per_epoch):
            elapsed = time.perf_counter() - start
            frac = frac_done(step, elapsed)
            if frac >= 1.0:
                break
            cur_lr = lr * (min_lr_frac + (1 - min_lr_frac) * 0.5 * (1 + math.cos(math.pi * frac)))
            for g in opt.param_groups:
                g["lr"] = cur_lr
            frames, valid, target = sampler.batch(batch)
            frames, valid, target = frames.to(dev), valid.to(dev), target.to(dev)
            refresh()
            objective = batch_bits(net, frames, valid, target, noise_std, loss, rows).mean()
            opt.zero_grad(set_to_none=True)
            objective.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            step += 1
            lv = float(objective.detach())
            running = lv if running is None else 0.98 * running + 0.02 * lv
            if bar is not None:
                bar.update(1)
                bar.set_postfix(bits=f"{running:.3f}", lr=f"{cur_lr:.1e}", refresh=False)
        info["epoch"] += 1
        info["step"] = step
        info["elapsed_s"] = time.perf_counter() - start
        refresh()
        val = evaluate(net, vclips, dev, loss=loss, rows=rows) if vclips else None
        entry = {
            "epoch": info["epoch"],
            "step": step,
            "elapsed_s": round(info["elapsed_s"], 1),
            "train_bits": running,
            "val_bits": val,
        }
        info["history"].append(entry)
        msg = f"epoch {info['epoch']} step {step} ({info['elapsed_s']:.0f} s) train {running:.4f}"
        if val is not None:
            msg += f" val {val:.4f} (last-frame {lf_val:.4f}, {100 * (val / lf_val - 1):+.1f}%)"
        if bar is not None:
            bar.write(msg)
        else:
            log(msg)
        score = val if val is not None else running
        if info["best_val"] is None or score < info["best_val"]:
            info["best_val"] = score
            save_weights(
                net,
                out_path,
                {
                    "model": model_name,
                    "val_bits": f"{score:.5f}",
                    "step": str(step),
                    "qat": str(int(qat)),
                    "loss": loss,
                },
            )
        info["rng_state"] = rng.bit_generator.state
        save_checkpoint(net, opt, out_path, info)
    if bar is not None:
        bar.close()
    if fake_quant is not None:
        fake_quant.remove()
    return {
        "model": model_name,
        "loss": loss,
        "best_val_bits": info["best_val"],
        "last_frame_val_bits": lf_val,
        "initial_val_bits": init_val,
        "steps": step,
        "epochs": info["epoch"],
        "seconds": info["elapsed_s"],
        "params": n_params,
        "history": info["history"],
    }


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``fpcodec train`` (and ``python -m fpcodec.models.training.train``)."""
    parser.add_argument("data_dirs", nargs="*", metavar="DATA_DIR", help="training folders (or files)")
    parser.add_argument("--data", nargs="+", default=[], help="more training folders (or files)")
    parser.add_argument("--val", nargs="*", default=[], help="held-out folders for validation")
    parser.add_argument("--model", required=True, choices=sorted(ARCHS), help="architecture to train")
    out = parser.add_mutually_exclusive_group(required=True)
    out.add_argument("-o", "--output", dest="out", help="weights file to write (.safetensors)")
    out.add_argument("--out", dest="out", help=argparse.SUPPRESS)  # the old spelling
    parser.add_argument("-y", "--force", action="store_true", help="overwrite an existing weights file")
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="passes of --steps-per-epoch steps (default 20 when no other limit is given)",
    )
    parser.add_argument("--steps", type=int, default=None, help="stop after this many optimizer steps")
    parser.add_argument(
        "--steps-per-epoch",
        type=int,
        default=250,
        help="optimizer steps between validations and checkpoints (default 250)",
    )
    parser.add_argument(
        "--time-budget",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after this many seconds of training",
    )
    parser.add_argument("--crop", type=int, default=64, help="side of the random training crops (default 64)")
    parser.add_argument("--batch", type=int, default=16, help="crops per optimizer step (default 16)")
    parser.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate (default 0.002)")
    parser.add_argument("--seed", type=int, default=0, help="random seed for crops and initial weights")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument(
        "--noise-std",
        type=float,
        default=0.0,
        help="Gaussian noise added to the history frames, in pixel levels (0..255)",
    )
    parser.add_argument("--resume", default=None, help="checkpoint (.ckpt.json) to continue")
    parser.add_argument("--init", default=None, help="weights file to start from (fine-tuning)")
    parser.add_argument(
        "--qat",
        action="store_true",
        help="quantization-aware: simulate the integer model's rounding (training/qat.py)",
    )
    parser.add_argument(
        "--loss",
        choices=sorted(LOSSES),
        default="rgb",
        help="what to minimize: rgb, bits per subpixel as the RGB modes code them (default); palette, "
        "bits per pixel of the true palette entry under the model row mixed with the previous colour",
    )
    parser.add_argument(
        "--compile-loss",
        action="store_true",
        help="palette loss: fuse its (pixels x palette) arithmetic with torch.compile (4-5x faster "
        "steps after about 30 s of compiling; needs a C++ compiler)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("-q", "--quiet", dest="no_progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-progress", dest="no_progress", action="store_true", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    data = list(args.data_dirs) + list(args.data)
    if not data:
        raise FpcodecError("no training data given (fpcodec train DATA_DIR... --model NAME -o FILE)")
    out = args.out
    if Path(out).exists() and not (args.force or args.resume):
        raise FpcodecError(f"{out} exists (use -y/--force to overwrite, or --resume)")
    from ...codec.outputs import check_output

    check_output(out, force=True)  # its folder, before any training
    if args.epochs is None and args.steps is None and args.time_budget is None:
        args.epochs = 20
    summary = train(
        data,
        args.model,
        out,
        val_dirs=args.val,
        epochs=args.epochs,
        steps=args.steps,
        steps_per_epoch=args.steps_per_epoch,
        time_budget_s=args.time_budget,
        crop=args.crop,
        batch=args.batch,
        lr=args.lr,
        seed=args.seed,
        device=args.device,
        noise_std=args.noise_std,
        resume=args.resume,
        progress=not args.no_progress,
        threads=args.threads,
        init=args.init,
        qat=args.qat,
        loss=args.loss,
        compile_loss=args.compile_loss,
    )
    summary.pop("history", None)
    print(json.dumps(summary))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fpcodec.models.training.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except FpcodecError as exc:  # bad input: one line, as `fpcodec train` says it
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
