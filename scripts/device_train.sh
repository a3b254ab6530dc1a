#!/usr/bin/env bash
# Retrain the demo YOLO12n in ONE lease of the GPU machine (issue 22), within BUDGET seconds:
# install the Ultralytics wheels, render the training data on every core (the randomized world
# with the orange and skirts switches, plus the plain world), train from scratch (yolo12n.yaml)
# for the time that is left, export the batch-2 / opset-17 / 640x640 ONNX with its names.
#
#   run(command="bash scripts/device_train.sh", carry=[".whl"], timeout_s=590)
#
# .whl/ (git-ignored) holds ultralytics-8.4.190 and ultralytics_thop wheels (models/README.md
# says how to download them). Into $OUT, also when the run is cut short:
#   last.pt (or last.pt.00, .01, ...: `cat last.pt.* > last.pt`)  resumable, copied every ~30 s
#   yolo12n_orange_cones.onnx   the exported model         results.csv   Ultralytics' per epoch
#   train_log_tail.txt          the log's last 400 kB      timings.txt   each phase's start
#
# Resume a cut run: put its last.pt (joined) in .resume/ (git-ignored) and
#   run(command="bash scripts/device_train.sh --resume", carry=[".whl", ".resume"], timeout_s=590)
# (the data is rendered again, bit for bit: same seeds).
#
# Dry run on a CPU (tiny numbers; PYTHON = an interpreter with torch, OUT = any folder):
#   PYTHON=/path/venv/bin/python3 OUT=/tmp/dry bash scripts/device_train.sh --dry-run
set -uo pipefail
cd "$(dirname "$0")/.."
T0=$(date +%s)
PYTHON=${PYTHON:-python3}
OUT=${OUT:-/tmp/device_out}
BUDGET=${BUDGET:-540}         # seconds for the whole script (the lead's timeout is 590)
WORK=${WORK:-/tmp/lease}      # data and runs (fixed: a resumed run finds the same paths)
RESUME=""
DRY=0
for arg in "$@"; do
  case "$arg" in
    --resume) RESUME=.resume/last.pt ;;
    --dry-run) DRY=1 ;;
    *) echo "unknown argument $arg (--resume, --dry-run)"; exit 2 ;;
  esac
done
if [ "$DRY" = 1 ]; then  # the whole chain with tiny numbers, on the CPU
  : "${PAIRS_TRAIN:=6}" "${PAIRS_PLAIN:=4}" "${PAIRS_VAL:=2}" "${WORKERS:=2}" "${DEVICE:=cpu}"
  : "${BATCH:=4}" "${HOURS:=0.002}"
fi
PAIRS_TRAIN=${PAIRS_TRAIN:-1500}  # randomized world, all switches (orange and skirts included)
PAIRS_PLAIN=${PAIRS_PLAIN:-1000}  # the plain world (the synthetic held-out test is of it)
PAIRS_VAL=${PAIRS_VAL:-40}        # randomized, for Ultralytics' final validation
WORKERS=${WORKERS:-16}
DEVICE=${DEVICE:-0}
BATCH=${BATCH:-64}
HOURS=${HOURS:-1.0}               # upper bound: the deadline decides
RESERVE=${RESERVE:-45}            # seconds kept for final validation, export and copies
DATA=$WORK/synth
mkdir -p "$OUT" "$WORK"
: > "$OUT/timings.txt"
stamp() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a "$OUT/timings.txt"; }
LOG=$WORK/train.log
: > "$LOG"
copy_back() {  # what the lead gets even if the run is killed: the log's tail, results.csv
  tail -c 400000 "$LOG" > "$OUT/train_log_tail.txt.tmp" && mv "$OUT/train_log_tail.txt.tmp" "$OUT/train_log_tail.txt"
  local csv
  csv=$(ls -t "$WORK"/runs/*/results.csv 2>/dev/null | head -1)
  if [ -n "$csv" ]; then cp "$csv" "$OUT/results.csv.tmp" && mv "$OUT/results.csv.tmp" "$OUT/results.csv"; fi
}
( while sleep 30; do copy_back; done ) &
COPIER=$!
trap 'kill $COPIER 2>/dev/null; copy_back' EXIT
export PYTHONUNBUFFERED=1 YOLO_CONFIG_DIR=$WORK/ultralytics_cfg YOLO_OFFLINE=1 YOLO_AUTOINSTALL=False

stamp "install wheels"
if ls .whl/*.whl >/dev/null 2>&1; then
  $PYTHON -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$WORK/site" .whl/*.whl || { stamp "wheel install failed"; exit 1; }
  export PYTHONPATH=$WORK/site:$PWD
else
  export PYTHONPATH=$PWD
  stamp "no .whl/: using the interpreter's own ultralytics"
fi
$PYTHON - <<'EOF' 2>&1 | tee -a "$LOG" || { stamp "imports failed"; exit 1; }
import importlib.util, platform, torch, ultralytics
import yolo_stereo_trt.tools.make_synthetic  # noqa: F401  (no rosbags, no ROS needed)
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
print(f"python {platform.python_version()}, torch {torch.__version__}, ultralytics "
      f"{ultralytics.__version__}, {gpu}, rosbags {'present' if importlib.util.find_spec('rosbags') else 'absent'}")
EOF

stamp "render data: $PAIRS_TRAIN randomized + $PAIRS_PLAIN plain + $PAIRS_VAL val pairs on $WORKERS processes"
rm -rf "$DATA"
gen() { OMP_NUM_THREADS=1 OPENCV_FOR_THREADS_NUM=1 $PYTHON -m yolo_stereo_trt.tools.make_synthetic --out "$DATA" --no-bag --workers "$WORKERS" "$@" 2>&1 | tail -1 | tee -a "$LOG"; }
gen --pairs "$PAIRS_TRAIN" --seed 100000 --split train --randomize all || exit 1
stamp "randomized train pairs done"
gen --pairs "$PAIRS_PLAIN" --seed 150000 --split plain || exit 1
stamp "plain train pairs done"
gen --pairs "$PAIRS_VAL" --seed 200000 --split val --randomize all || exit 1
$PYTHON - "$DATA" <<'EOF' | tee -a "$LOG"
import sys, yaml
from pathlib import Path
from yolo_stereo_trt.core.classes import FSOCO_NAMES
data = Path(sys.argv[1])
(data / "data.yaml").write_text(yaml.safe_dump({
    "path": str(data), "train": ["images/train", "images/plain"], "val": "images/val",
    "nc": len(FSOCO_NAMES), "names": dict(enumerate(FSOCO_NAMES))}, sort_keys=False))
counts = [0] * len(FSOCO_NAMES)
for split in ("train", "plain", "val"):
    for f in (data / "labels" / split).glob("*.txt"):
        for line in f.read_text().splitlines():
            counts[int(line.split()[0])] += 1
print("labels per class:", dict(zip(FSOCO_NAMES, counts)))
EOF
stamp "data done"

stamp "train ($([ -n "$RESUME" ] && echo "resume $RESUME" || echo "from scratch, yolo12n.yaml"); deadline at $BUDGET s)"
EXTRA=()
if [ -n "$RESUME" ]; then
  if [ ! -f "$RESUME" ] && ls .resume/last.pt.?? >/dev/null 2>&1; then cat .resume/last.pt.?? > "$RESUME"; fi
  [ -f "$RESUME" ] || { stamp "no $RESUME to resume from"; exit 2; }
  EXTRA=(--resume "$RESUME")
fi
$PYTHON scripts/train_demo_model.py --data "$DATA" --whole-frames --device "$DEVICE" \
  --workers "$WORKERS" --batch "$BATCH" --hours "$HOURS" --deadline $((T0 + BUDGET)) \
  --reserve "$RESERVE" --work "$WORK/runs" --save-to "$OUT" --offline \
  --out "$OUT/yolo12n_orange_cones.onnx" "${EXTRA[@]}" >> "$LOG" 2>&1
RC=$?
grep -E "lease:|epochs completed|all .* [0-9.]+ +[0-9.]+ +[0-9.]+|exported|Error|error" "$LOG" | tail -25
stamp "training and export ended (exit $RC)"

$PYTHON - "$OUT/yolo12n_orange_cones.onnx" <<'EOF'
import sys, onnx
m = onnx.load(sys.argv[1])
meta = {p.key: p.value for p in m.metadata_props}
shape = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
print(f"ONNX: input {shape}, opset {m.opset_import[0].version}, batch {meta.get('batch')}, "
      f"imgsz {meta.get('imgsz')}, names {meta.get('names')}")
EOF
copy_back
stamp "done"
ls -la "$OUT"
exit $RC
