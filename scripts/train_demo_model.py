#!/usr/bin/env python3
"""Train the demo YOLO12n on synthetic stereo scenes and export the batch-2 ONNX (development only).

Needs torch + ultralytics (never a runtime or CI dependency):
    python3 -m venv /work/devenv
    /work/devenv/bin/pip install torch==2.14.1 torchvision==0.29.1
    /work/devenv/bin/pip install ultralytics onnx onnxslim opencv-python-headless
    .venv/bin/make_synthetic --out data/synth --pairs 2000 --seed 100000 --split train
    /work/devenv/bin/python scripts/train_demo_model.py --data data/synth --hours 1.2

Compute is what limits training on a CPU, so it is spent where the cones are. The camera looks
along the ground from 0.9 m, so every cone lies below the horizon (row cy): each training image
stacks three bands (rows cy-56 .. bottom) of different frames into one near-square 1280x1248
image. Ultralytics resizes its long side to 640, so cones appear at the scale the 640x640 model
sees a whole 1280x720 frame at, and a mosaic tile carries three scenes instead of one scene
half of which is sky. The sky never holds a cone; the held-out evaluation runs on whole frames.
Export: batch 2 (left + right), opset 17, static 640x640, the five FSOCO names in the metadata.

On a GPU machine (`--device 0 --whole-frames`): whole frames (a randomized world moves the
horizon with the camera's height and pitch, so bands by row no longer apply), all cores for the
data loader. Where `polars` is not installed (it is only used to read back results.csv), a
minimal stand-in module is written for the run; `--hours` bounds the training time:
    python3 scripts/train_demo_model.py --data /tmp/synth --whole-frames --device 0 \
        --workers 16 --batch 64 --hours 0.1 --work /tmp/runs --out yolo12n_new.onnx

In one lease with a hard end (scripts/device_train.sh): ``--deadline T --reserve S`` sets the
training time, when training starts, to what is left until the wall-clock time T (Unix
seconds) less S seconds for the final validation and the export (``--hours`` is then an upper
bound), and stops between two batches if T - S passes anyway; ``--save-to DIR`` copies the
resumable last.pt there (at most every 30 s, and after the last epoch; in parts of 15 MiB when
larger) so a run cut short still leaves it; ``--resume last.pt`` continues such a run (its
optimizer, epoch and learning-rate schedule; the deadline still applies), or, when it had
finished its planned epochs, fine-tunes from its weights (as ``--finetune``) for the time
left; ``--offline`` is for a machine without network: Ultralytics neither installs packages
nor downloads the AMP check's model (AMP stays on, as on any recent NVIDIA GPU).
"""
from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import yaml

NAMES = {0: "blue_cone", 1: "yellow_cone", 2: "orange_cone", 3: "large_orange_cone",
         4: "unknown_cone"}


def read_labels(path: Path) -> np.ndarray:
    if not path.exists() or not path.read_text().strip():
        return np.zeros((0, 5), np.float64)
    return np.loadtxt(path, ndmin=2)


def build_bands(data: Path, out: Path, bands: int = 3, margin: int = 56) -> Path:
    images = sorted((data / "images" / "train").glob("*.jpg"))
    rng = np.random.default_rng(0)
    rng.shuffle(images)
    img_dir, lbl_dir = out / "images" / "train", out / "labels" / "train"
    shutil.rmtree(out, ignore_errors=True)
    img_dir.mkdir(parents=True)
    lbl_dir.mkdir(parents=True)
    for k in range(0, len(images) - bands + 1, bands):
        parts, labels = [], []
        for j, path in enumerate(images[k:k + bands]):
            img = cv2.imread(str(path))
            h, w = img.shape[:2]
            top = h // 2 - margin
            band = img[top:]
            bh = band.shape[0]
            lab = read_labels(data / "labels" / "train" / (path.stem + ".txt"))
            if len(lab):  # to pixels, shift into the band, clip
                cy = lab[:, 2] * h - top
                hh = lab[:, 4] * h
                y0, y1 = np.clip(cy - hh / 2, 0, bh), np.clip(cy + hh / 2, 0, bh)
                keep = (y1 - y0) >= 2
                lab = lab[keep]
                y0, y1 = y0[keep] + j * bh, y1[keep] + j * bh
                lab[:, 2] = (y0 + y1) / 2
                lab[:, 4] = y1 - y0
            parts.append(band)
            labels.append(lab)
        image = np.vstack(parts)
        total_h = image.shape[0]
        lab = np.vstack(labels)
        if len(lab):
            lab[:, 2] /= total_h
            lab[:, 4] /= total_h
        name = f"band_{k // bands:05d}"
        cv2.imwrite(str(img_dir / f"{name}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 93])
        np.savetxt(lbl_dir / f"{name}.txt", lab, fmt=["%d", "%.6f", "%.6f", "%.6f", "%.6f"])
    val = data / "images" / "val"
    yaml_path = out / "data.yaml"
    yaml_path.write_text(yaml.safe_dump({
        "path": str(out.resolve()), "train": "images/train",
        "val": str(val.resolve()) if val.is_dir() else "images/train", "names": NAMES}))
    print(f"{len(list(img_dir.glob('*.jpg')))} band images in {img_dir}")
    return yaml_path


POLARS_STANDIN = '''"""Stand-in for polars: Ultralytics reads results.csv back with it (training only)."""
import csv
import io


class _Frame:
    def __init__(self, rows):
        self.rows = rows

    def to_dict(self, as_series=False):
        keys = list(self.rows[0]) if self.rows else []
        return {k.strip(): [float(r[k]) for r in self.rows] for k in keys}


def read_csv(data, infer_schema_length=None):
    text = data.decode() if isinstance(data, bytes) else open(data).read()
    return _Frame(list(csv.DictReader(io.StringIO(text))))
'''


def ensure_polars(work: Path) -> None:
    import importlib.util
    import sys
    if importlib.util.find_spec("polars") is None:
        shim = work / "standin_modules"
        shim.mkdir(parents=True, exist_ok=True)
        (shim / "polars.py").write_text(POLARS_STANDIN)
        sys.path.insert(0, str(shim))


PART = 15 * 1024 * 1024  # files that come back from the GPU machine: at most 16 MiB each


def save_checkpoint(src: Path, dest: Path) -> list[Path]:
    """Copy src into dest/ as last.pt, or as last.pt.00, .01, ... (15 MiB parts; `cat` joins
    them) when larger; each file written under a temporary name and renamed, so a run killed
    while copying leaves the previous copy whole."""
    data = src.read_bytes()
    dest.mkdir(parents=True, exist_ok=True)
    names = ["last.pt"] if len(data) <= PART else [
        f"last.pt.{k:02d}" for k in range((len(data) + PART - 1) // PART)]
    for k, name in enumerate(names):
        tmp = dest / f"{name}.tmp"
        tmp.write_bytes(data[k * PART:(k + 1) * PART])
        os.replace(tmp, dest / name)
    for old in dest.glob("last.pt*"):  # parts of an earlier, larger copy
        if old.name not in names:
            old.unlink()
    return [dest / n for n in names]


def add_lease_callbacks(model, deadline: float | None, reserve: float, hours: float,
                        save_to: Path | None, resume: bool) -> None:
    """Deadline, time budget and checkpoint copies (see the module docstring)."""
    state = {"copied": 0.0}

    def on_train_start(trainer) -> None:
        if deadline is not None and not resume:
            left = max(deadline - reserve - time.time(), 30.0)
            trainer.args.time = min(hours, left / 3600)
            print(f"lease: training for {trainer.args.time * 60:.2f} min (deadline in "
                  f"{deadline - time.time():.0f} s, {reserve:.0f} s kept for validation and "
                  f"export)", flush=True)

    def on_train_batch_end(trainer) -> None:
        if deadline is not None and time.time() > deadline - reserve and not trainer.stop:
            print("lease: deadline reached, stopping after this batch", flush=True)
            trainer.stop = True

    def on_model_save(trainer) -> None:  # an epoch's resumable last.pt was just written
        state["fresh"] = 1.0

    def on_fit_epoch_end(trainer) -> None:  # the epoch's stop decision is known here
        # (Ultralytics' final validation calls this too, after stripping the optimizer from
        # last.pt: no on_model_save before it, so that file is never copied)
        if save_to is None or not state.pop("fresh", 0.0):
            return
        if trainer.stop or time.time() - state["copied"] >= 30:
            files = save_checkpoint(trainer.last, save_to)
            state["copied"] = time.time()
            mib = trainer.last.stat().st_size / 2**20
            print(f"lease: epoch {trainer.epoch + 1}: {mib:.1f} MiB checkpoint copied to "
                  f"{', '.join(f.name for f in files)}", flush=True)

    model.add_callback("on_train_start", on_train_start)
    model.add_callback("on_train_batch_end", on_train_batch_end)
    model.add_callback("on_model_save", on_model_save)
    model.add_callback("on_fit_epoch_end", on_fit_epoch_end)


def resumable(path: Path) -> bool:
    """Whether an Ultralytics last.pt still has planned epochs to run (and its optimizer)."""
    import torch
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    done = int(ckpt.get("epoch", -1)) + 1
    planned = int((ckpt.get("train_args") or {}).get("epochs", 0))
    print(f"lease: {path}: {done} of {planned} planned epochs done", flush=True)
    return ckpt.get("optimizer") is not None and 0 < done < planned


def go_offline() -> None:
    """No package installs, no downloads: the AMP check's model cannot be fetched, and AMP is
    what every recent NVIDIA GPU trains with (Ultralytics' own fallback when offline)."""
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "False"
    import ultralytics.engine.trainer as trainer_module
    trainer_module.check_amp = lambda model: True


def whole_frames(data: Path) -> Path:
    """make_synthetic's own data.yaml (train + val splits of whole frames)."""
    return data / "data.yaml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="make_synthetic output (train split)")
    ap.add_argument("--work", type=Path, default=Path("runs_demo"))
    ap.add_argument("--hours", type=float, default=1.2, help="training time budget")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--out", type=Path, default=Path("models/yolo12n_synthetic_cones.onnx"))
    ap.add_argument("--export-only", type=Path, help="export this .pt instead of training")
    ap.add_argument("--finetune", type=Path,
                    help="continue from these weights (no warm-up, --lr0) for --hours more")
    ap.add_argument("--lr0", type=float, default=0.0005, help="learning rate with --finetune")
    ap.add_argument("--device", default="cpu", help="cpu, or a GPU index such as 0")
    ap.add_argument("--workers", type=int, default=2, help="data loader workers")
    ap.add_argument("--whole-frames", action="store_true",
                    help="train on whole frames (a randomized world), not horizon bands")
    ap.add_argument("--epochs", type=int, default=100, help="upper bound; --hours ends earlier")
    ap.add_argument("--deadline", type=float, help="wall-clock end of the lease (Unix seconds): "
                    "the training time is what is left less --reserve")
    ap.add_argument("--reserve", type=float, default=50.0,
                    help="seconds kept before --deadline for validation and export (50)")
    ap.add_argument("--save-to", type=Path, help="copy the resumable last.pt here while training")
    ap.add_argument("--resume", type=Path, help="continue this run's last.pt (Ultralytics resume)")
    ap.add_argument("--offline", action="store_true",
                    help="no network: no package installs or downloads (GPU machine)")
    args = ap.parse_args()
    if args.offline:
        os.environ["YOLO_OFFLINE"] = "1"  # read when ultralytics is imported
        os.environ["YOLO_AUTOINSTALL"] = "False"
    ensure_polars(args.work)

    import ultralytics.utils.torch_utils as torch_utils
    from ultralytics import YOLO
    # Ultralytics trains on cpu_count - 1 threads (1 on a 2-core machine): use them all
    torch_utils.NUM_THREADS = os.cpu_count() or 1
    if args.offline:
        go_offline()

    if args.resume and not resumable(args.resume):
        print(f"lease: {args.resume} finished its planned epochs: continuing as a fine-tune from "
              f"its weights (--finetune, lr0 {args.lr0}) for the time left", flush=True)
        args.finetune, args.resume = args.resume, None
    if args.export_only:
        weights = args.export_only
    elif args.resume:
        model = YOLO(str(args.resume))
        add_lease_callbacks(model, args.deadline, args.reserve, args.hours, args.save_to, True)
        # the run's own arguments come from the checkpoint; time 0: its planned epochs, the
        # deadline stops it earlier if need be
        data_yaml = whole_frames(args.data) if args.whole_frames else None
        extra_resume = {"data": str(data_yaml)} if data_yaml else {}
        model.train(resume=str(args.resume), time=0.0, workers=args.workers, device=args.device,
                    batch=args.batch, cache="ram", **extra_resume)
        weights = Path(model.trainer.last)
    else:
        data_yaml = whole_frames(args.data) if args.whole_frames \
            else build_bands(args.data, args.work / "bands")
        name = "finetune" if args.finetune else "train"
        model = YOLO(str(args.finetune) if args.finetune else "yolo12n.yaml")
        add_lease_callbacks(model, args.deadline, args.reserve, args.hours, args.save_to, False)
        extra = dict(optimizer="AdamW", lr0=args.lr0, warmup_epochs=0) if args.finetune else {}
        model.train(data=str(data_yaml), imgsz=640, epochs=args.epochs, time=args.hours,
                    batch=args.batch, workers=args.workers, device=args.device, cache="ram",
                    val=False,
                    plots=False, close_mosaic=1, project=str(args.work.resolve()), name=name,
                    exist_ok=True, seed=0, deterministic=False, patience=1000, **extra)
        weights = args.work / name / "weights" / "last.pt"
    import importlib.util
    onnx_path = YOLO(str(weights)).export(
        format="onnx", imgsz=640, batch=2, opset=17, dynamic=False, device="cpu",
        simplify=importlib.util.find_spec("onnxslim") is not None)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(onnx_path, args.out)
    print(f"exported {args.out}")


if __name__ == "__main__":
    main()
