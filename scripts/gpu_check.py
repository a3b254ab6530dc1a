"""The TensorRT backend's CUDA layer on a real GPU, without TensorRT (dev check, not a test).

    python scripts/gpu_check.py [--model models/yolo12n_synthetic_cones.onnx] [--json OUT]

Runs the backend's own cuda-python calls (open_cuda_device, allocate_pinned, cuda_check) as the
engine path uses them: pinned host buffers for a stereo batch, device buffers, one stream, async
copies in and out, the copies captured once as a CUDA graph and replayed; checks the bytes that
come back and times the transfer of a uint8 (2,640,640,3) batch against the float (2,3,640,640)
one. With onnxruntime-gpu it also times the model's batch-2 inference on the GPU through the
package's ONNX Runtime backend (uint8 input normalized in the graph, and float input).
Needs only numpy and cuda-python (+ onnx/onnxruntime for the second part).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from yolo_stereo_trt.backends.tensorrt_backend import (allocate_pinned, cuda_check,  # noqa: E402
                                                       import_cudart, open_cuda_device)


def copies(cudart, shape, dtype, graph: bool, runs: int = 200) -> dict:
    """Pinned in -> device -> pinned out on one stream; optionally as a replayed CUDA graph."""
    kind = cudart.cudaMemcpyKind
    in_ptr, host_in = allocate_pinned(cudart, shape, dtype, "in")
    out_ptr, host_out = allocate_pinned(cudart, shape, dtype, "out")
    nbytes = host_in.nbytes
    dev = int(cuda_check(cudart, cudart.cudaMalloc(nbytes), "cudaMalloc"))
    stream = cuda_check(cudart, cudart.cudaStreamCreate(), "cudaStreamCreate")

    def enqueue() -> None:
        cuda_check(cudart, cudart.cudaMemcpyAsync(dev, in_ptr, nbytes,
                                                  kind.cudaMemcpyHostToDevice, stream), "H2D")
        cuda_check(cudart, cudart.cudaMemcpyAsync(out_ptr, dev, nbytes,
                                                  kind.cudaMemcpyDeviceToHost, stream), "D2H")
    run = enqueue
    graph_exec = graph_obj = None
    if graph:
        mode = cudart.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal
        cuda_check(cudart, cudart.cudaStreamBeginCapture(stream, mode), "begin capture")
        enqueue()
        graph_obj = cuda_check(cudart, cudart.cudaStreamEndCapture(stream), "end capture")
        graph_exec = cuda_check(cudart, cudart.cudaGraphInstantiate(graph_obj, 0), "instantiate")
        run = lambda: cuda_check(cudart, cudart.cudaGraphLaunch(graph_exec, stream),  # noqa: E731
                                 "cudaGraphLaunch")
    rng = np.random.default_rng(0)
    ok = True
    for _ in range(3):  # the bytes come back, also when the graph replays new host data
        host_in[...] = rng.integers(0, 255, shape).astype(dtype)
        run()
        cuda_check(cudart, cudart.cudaStreamSynchronize(stream), "sync")
        ok &= bool(np.array_equal(host_in, host_out))
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run()
        cuda_check(cudart, cudart.cudaStreamSynchronize(stream), "sync")
        times.append((time.perf_counter() - t0) * 1e3)
    if graph_exec is not None:
        cudart.cudaGraphExecDestroy(graph_exec)
        cudart.cudaGraphDestroy(graph_obj)
    del host_in, host_out  # no view may outlive its pinned memory
    for ptr in (in_ptr, out_ptr):
        cuda_check(cudart, cudart.cudaFreeHost(ptr), "cudaFreeHost")
    cuda_check(cudart, cudart.cudaFree(dev), "cudaFree")
    cuda_check(cudart, cudart.cudaStreamDestroy(stream), "cudaStreamDestroy")
    return {"shape": list(shape), "dtype": np.dtype(dtype).name, "graph": graph,
            "bytes_each_way": nbytes, "roundtrip_ok": ok,
            "roundtrip_ms_p50": round(float(np.median(times)), 4)}


def onnxruntime_gpu(model: Path, runs: int = 100) -> list[dict]:
    import onnxruntime as ort
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return [{"skipped": f"no CUDA provider in onnxruntime {ort.__version__}"}]
    from yolo_stereo_trt.backends.onnxruntime_backend import OnnxRuntimeBackend
    rows = []
    for uint8 in (True, False):
        backend = OnnxRuntimeBackend(model, device="cuda", uint8_input=uint8)
        shape = (2, *backend.input.hw, 3) if uint8 else (2, 3, *backend.input.hw)
        batch = np.full(shape, 114 if uint8 else 114 / 255, backend.input.dtype)
        for _ in range(10):
            backend.infer(batch)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            out = backend.infer(batch)
            times.append((time.perf_counter() - t0) * 1e3)
        rows.append({"input": "uint8 (2,H,W,3)" if uint8 else "float (2,3,H,W)",
                     "device": backend.device, "output": list(out.shape),
                     "batch2_ms_p50": round(float(np.median(times)), 3),
                     "batch2_ms_p90": round(float(np.percentile(times, 90)), 3)})
        backend.close()
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=Path("models/yolo12n_synthetic_cones.onnx"))
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    cudart = import_cudart()
    report: dict = {"device": open_cuda_device(cudart)}
    status, prop = cudart.cudaGetDeviceProperties(0)
    report["gpu"] = prop.name.decode(errors="replace").strip("\0") if isinstance(prop.name, bytes) \
        else str(prop.name)
    report["copies"] = [copies(cudart, s, d, g) for s, d in
                        (((2, 640, 640, 3), np.uint8), ((2, 3, 640, 640), np.float32))
                        for g in (False, True)]
    try:
        report["onnxruntime"] = onnxruntime_gpu(args.model)
    except ImportError as exc:
        report["onnxruntime"] = [{"skipped": str(exc)}]
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0 if all(c["roundtrip_ok"] for c in report["copies"]) else 1


if __name__ == "__main__":
    sys.exit(main())
