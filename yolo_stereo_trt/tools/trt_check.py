"""trt_check: the one-command check for a machine with an NVIDIA GPU and TensorRT (the ASU).

  trt_check --onnx models/yolo12n_synthetic_cones.onnx --calib data/synth/data.yaml

1. builds FP32, FP16 and INT8 batch-2 engines from the ONNX with build_engine (INT8 calibrated
   on the --calib split, the path the installed TensorRT supports);
2. runs the benchmark: the ONNX through ONNX Runtime (the reference) and the three engines
   through the TensorRT backend: latency (inference, whole pipeline) and accuracy on the split,
   agreement of each engine's boxes with ONNX Runtime's;
3. prints a verdict: FP32 and FP16 engines find >= 98% of ONNX Runtime's boxes again, INT8 keeps
   >= 99% of FP32 mAP50, and the INT8 engine's batch-2 inference p50 against --target-ms.
Writes everything to --out-dir (engines, calibration cache, timing cache, report.md/.json).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..core.cli import guarded, positive_int


def verdict(rows: list[dict], target_ms: float) -> list[tuple[bool, str]]:
    """Pass/fail lines from the benchmark rows (reference first, then fp32, fp16, int8)."""
    checks = []
    by_precision = {r["precision"]: r for r in rows[1:]}
    for precision, need in (("fp32", 0.98), ("fp16", 0.98)):
        r = by_precision.get(precision)
        if r and "agreement" in r:
            found = r["agreement"]["found"]
            checks.append((found >= need, f"{precision} engine finds {found:.1%} of ONNX Runtime's "
                                          f"boxes again (>= {need:.0%})"))
    fp32, int8 = by_precision.get("fp32"), by_precision.get("int8")
    if fp32 and int8 and "accuracy" in fp32 and "accuracy" in int8:
        keep = int8["accuracy"]["map50"] / max(fp32["accuracy"]["map50"], 1e-9)
        checks.append((keep >= 0.99, f"INT8 keeps {keep:.2%} of FP32 mAP50 (>= 99%)"))
    if int8:
        p50 = int8["inference_ms"]["p50"]
        checks.append((p50 <= target_ms, f"INT8 batch-2 inference p50 {p50:.2f} ms "
                                         f"(target {target_ms:g} ms)"))
    return checks


@guarded("trt_check")
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="trt_check", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--onnx", type=Path, required=True, help="the batch-2 ONNX to build from")
    ap.add_argument("--calib", type=Path, required=True, help="data.yaml (or images folder)")
    ap.add_argument("--split", default="val", help="data.yaml split (val)")
    ap.add_argument("--out-dir", type=Path, default=Path("trt_check"),
                    help="engines and report go here (./trt_check)")
    ap.add_argument("--runs", type=positive_int, default=200, help="timed runs per engine (200)")
    ap.add_argument("--max-images", type=positive_int, help="accuracy on the first N images only")
    ap.add_argument("--target-ms", type=float, default=8.3,
                    help="expected INT8 batch-2 latency (8.3 ms on an RTX 4060)")
    args = ap.parse_args(argv)
    for name, path in (("--onnx", args.onnx), ("--calib", args.calib)):  # before two builds
        if not path.exists():
            print(f"trt_check: error: {name} {path} not found", file=sys.stderr)
            return 2
    from .benchmark import main as benchmark
    from .build_engine import main as build_engine
    out = args.out_dir
    out.mkdir(parents=True, exist_ok=True)
    engines = []
    for precision in ("fp32", "fp16", "int8"):
        engine = out / f"{args.onnx.stem}_{precision}.engine"
        cmd = ["--onnx", str(args.onnx), "--out", str(engine), "--precision", precision,
               "--timing-cache", str(out / "timing.cache")]
        if precision == "int8":
            cmd += ["--calib", str(args.calib), "--calib-split", args.split]
        print(f"\n== build_engine {' '.join(cmd)}", flush=True)
        if build_engine(cmd) != 0:
            print(f"FAIL: the {precision} build failed", file=sys.stderr)
            return 1
        engines.append(engine)
    report = out / "report"
    cmd = ["--models", str(args.onnx), *map(str, engines), "--data", str(args.calib), "--split",
           args.split, "--runs", str(args.runs), "--out", str(report)]
    if args.max_images:
        cmd += ["--max-images", str(args.max_images)]
    print(f"\n== benchmark {' '.join(cmd)}", flush=True)
    code = benchmark(cmd)
    if code == 130:  # Ctrl-C in the benchmark (it said so): the check stops as interrupted
        raise KeyboardInterrupt
    if code != 0:
        return 1
    rows = json.loads(report.with_suffix(".json").read_text())
    checks = verdict(rows, args.target_ms)
    print("\nverdict:")
    for ok, text in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")
    return 0 if checks and all(ok for ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
