"""TensorRT backend: the car's runtime (TensorRT 10.x and 11.x tensor-name API, cuda-python).

A thin layer: the engine file format, I/O checks and shapes are pure functions in
``engine_file`` (tested without a GPU); here are only the TensorRT and CUDA calls, each
CUDA status checked. Buffers are allocated once: a pinned host buffer per I/O tensor (the
preprocessor letterboxes straight into the pinned input), a device buffer per tensor, one stream,
async copies, ``execute_async_v3``; optionally the copy-in, execute and copy-out are captured
once into a CUDA graph and replayed. ``close()`` releases everything in reverse order.
"""
from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

import numpy as np

from ..core.metadata import ModelInfo, ModelMetadataError, parse_metadata
from .engine_file import EngineFileError, IOTensor, as_shape, plan_io, split_engine_file
from .base import ModelLoadError


def import_tensorrt() -> Any:
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise ModelLoadError("TensorRT is not installed (python3 -c 'import tensorrt' fails): on "
                             "the car install the TensorRT Python package matching the engine"
                             ) from exc
    if not hasattr(trt, "Runtime"):  # e.g. only the type stubs are installed
        raise ModelLoadError("the installed 'tensorrt' package has no runtime (type stubs only?)")
    return trt


def import_cudart() -> Any:
    """cuda-python's runtime bindings: ``cuda.bindings.runtime`` (12.6+ and 13.x), or
    ``cuda.cudart`` (older 12.x; removed in 13)."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart  # type: ignore[no-redef]
        except ImportError as exc:
            raise ModelLoadError("cuda-python is not installed: pip install cuda-python") from exc
    return cudart


class CudaError(ModelLoadError):
    pass


def cuda_check(cudart: Any, result: Any, what: str) -> Any:
    """cuda-python returns (status, *values): raise on a bad status, return the values."""
    status, *values = result if isinstance(result, tuple) else (result,)
    if int(status) != 0:
        _, text = cudart.cudaGetErrorString(status)
        text = text.decode() if isinstance(text, bytes) else str(text)
        raise CudaError(f"{what} failed: {getattr(status, 'name', status)} ({text})")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def open_cuda_device(cudart: Any, device: str = "cuda:0") -> str:
    """Select the GPU; a clear error when there is none or the driver is missing/too old."""
    status, count = cudart.cudaGetDeviceCount()
    if int(status) != 0 or not count:
        _, text = cudart.cudaGetErrorString(status)
        text = text.decode() if isinstance(text, bytes) else str(text)
        raise CudaError(f"no CUDA GPU usable ({getattr(status, 'name', status)}: {text}): is "
                        f"the NVIDIA driver loaded (nvidia-smi)?")
    index = int(device.split(":")[1]) if device.startswith("cuda:") else 0
    if index >= count:
        raise CudaError(f"{device} requested but there are {count} GPU(s)")
    cuda_check(cudart, cudart.cudaSetDevice(index), f"cudaSetDevice({index})")
    return f"cuda:{index}"


def allocate_pinned(cudart: Any, shape: tuple[int, ...], dtype: np.dtype, name: str = ""
                    ) -> tuple[int, np.ndarray]:
    """Page-locked host memory for async copies, and a NumPy view of it (which must not outlive
    the memory: the owner drops the view before cudaFreeHost)."""
    nbytes = max(int(np.prod(shape)) * np.dtype(dtype).itemsize, 1)
    ptr = int(cuda_check(cudart, cudart.cudaMallocHost(nbytes), f"cudaMallocHost({name})"))
    raw = (ctypes.c_byte * nbytes).from_address(ptr)
    view = np.frombuffer(memoryview(raw).cast("B"), dtype=dtype,
                         count=int(np.prod(shape))).reshape(shape)
    return ptr, view


class TensorRTBackend:
    name = "tensorrt"

    def __init__(self, path: str | Path, device: str = "cuda:0", cuda_graph: bool = True,
                 batch: int = 2) -> None:
        self._closed = True
        path = Path(path)
        meta, serialized = split_engine_file(path.read_bytes())  # validated before TensorRT
        try:
            self.info = parse_metadata(meta) if meta else ModelInfo()
        except ModelMetadataError as exc:
            raise EngineFileError(f"{path}: {exc}") from exc
        import_tensorrt()  # a clear error when it is missing
        import tensorrt as trt  # typed: mypy checks these calls against tensorrt-stubs
        self._check_version(meta, trt.__version__, path)
        self.cudart = cudart = import_cudart()
        self.device = open_cuda_device(cudart, device)

        self._errors: list[str] = []
        errors = self._errors

        class Logger(trt.ILogger):  # keep TensorRT's own reason for a failed deserialization
            def __init__(self) -> None:
                trt.ILogger.__init__(self)

            def log(self, severity: Any, msg: str) -> None:
                if severity in (trt.ILogger.ERROR, trt.ILogger.INTERNAL_ERROR):
                    errors.append(msg)

        self.logger = Logger()
        self.runtime = trt.Runtime(self.logger)
        self.engine = self.runtime.deserialize_cuda_engine(serialized)
        if self.engine is None:
            raise EngineFileError(
                f"TensorRT {trt.__version__} cannot load {path}: "
                f"{'; '.join(errors) or 'deserialization failed'}. Engines only run on the "
                f"TensorRT version and GPU they were built for: rebuild it here with build_engine")
        tensors = []
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            tensors.append(IOTensor(
                name, self.engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT,
                as_shape(self.engine.get_tensor_shape(name)),
                self.engine.get_tensor_dtype(name).name))
        inp = next((t for t in tensors if t.is_input), None)
        profile: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]] | None = None
        if inp is not None and any(d < 0 for d in inp.shape):
            lo, opt, hi = (as_shape(d) for d in
                           self.engine.get_tensor_profile_shape(inp.name, 0))
            profile = (lo, opt, hi)
        self.plan = plan_io(tensors, profile, batch=batch, imgsz=self.info.imgsz)
        self.input = self.plan.input
        if self.info.batch is None:
            self.info.batch = self.input.batch
        if self.info.imgsz is None:
            self.info.imgsz = self.input.hw
        self.info.precision = str((meta or {}).get("precision", "unknown"))

        self.context = self.engine.create_execution_context()
        if self.plan.dynamic and not self.context.set_input_shape(self.input.name,
                                                                  self.plan.input_shape):
            raise EngineFileError(f"the engine refuses input shape {self.plan.input_shape}")
        # from here on close() releases whatever was allocated, also when a check below fails
        self._closed = False
        self._host: dict[str, np.ndarray] = {}
        self._host_ptr: dict[str, int] = {}
        self._device: dict[str, int] = {}
        self.graph: Any = None
        self.graph_exec: Any = None
        self.stream: Any = None
        self.stream = cuda_check(cudart, cudart.cudaStreamCreate(), "cudaStreamCreate")
        for t in tensors:
            shape = as_shape(self.context.get_tensor_shape(t.name))
            if any(d < 0 for d in shape):
                raise EngineFileError(f"tensor {t.name!r} has no concrete shape {shape}")
            self._allocate(t.name, shape, t.numpy_dtype)
        out_shape = self._host[self.plan.output.name].shape
        if len(out_shape) != 3 or out_shape[0] != self.input.batch:
            raise EngineFileError(f"output {self.plan.output.name!r} {out_shape} is not a "
                                  f"[B, ., .] detection head for batch {self.input.batch}")
        self.output_shape: tuple[int, ...] = tuple(int(d) for d in out_shape)  # concrete
        self.inputs = [t.name for t in tensors if t.is_input]
        self.outputs = [t.name for t in tensors if not t.is_input]
        self._enqueue()  # first run outside a capture: TensorRT finishes its lazy setup here
        cuda_check(cudart, cudart.cudaStreamSynchronize(self.stream), "warm-up")
        if cuda_graph:
            self._capture()

    @staticmethod
    def _check_version(meta: dict | None, installed: str, path: Path) -> None:
        built = (meta or {}).get("tensorrt_version")
        if built and str(built).split(".")[:2] != installed.split(".")[:2]:
            raise EngineFileError(f"{path} was built with TensorRT {built}, this is TensorRT "
                                  f"{installed}: rebuild it with build_engine on this machine")

    def _allocate(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
        host_ptr, self._host[name] = allocate_pinned(self.cudart, shape, dtype, name)
        self._host_ptr[name] = host_ptr
        nbytes = self._host[name].nbytes or 1
        dev = cuda_check(self.cudart, self.cudart.cudaMalloc(nbytes), f"cudaMalloc({name})")
        self._device[name] = int(dev)
        if not self.context.set_tensor_address(name, int(dev)):
            raise EngineFileError(f"set_tensor_address({name}) refused")

    @property
    def input_buffer(self) -> np.ndarray:
        """The pinned host input: the preprocessor letterboxes straight into it."""
        return self._host[self.input.name]

    def _copies_and_execute(self) -> None:
        cudart, kind = self.cudart, self.cudart.cudaMemcpyKind
        for name in self.inputs:
            cuda_check(cudart, cudart.cudaMemcpyAsync(
                self._device[name], self._host_ptr[name], self._host[name].nbytes,
                kind.cudaMemcpyHostToDevice, self.stream), f"copy {name} to the GPU")
        if not self.context.execute_async_v3(int(self.stream)):
            raise RuntimeError(f"TensorRT execute_async_v3 failed: {'; '.join(self._errors)}")
        for name in self.outputs:
            cuda_check(cudart, cudart.cudaMemcpyAsync(
                self._host_ptr[name], self._device[name], self._host[name].nbytes,
                kind.cudaMemcpyDeviceToHost, self.stream), f"copy {name} from the GPU")

    def _enqueue(self) -> None:
        if self.graph_exec is not None:
            cuda_check(self.cudart, self.cudart.cudaGraphLaunch(self.graph_exec, self.stream),
                       "cudaGraphLaunch")
        else:
            self._copies_and_execute()

    def _capture(self) -> None:
        """Capture copy-in + execute + copy-out once; replay it per pair. Falls back to plain
        enqueues when the engine cannot be captured."""
        cudart = self.cudart
        mode = cudart.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal
        cuda_check(cudart, cudart.cudaStreamBeginCapture(self.stream, mode), "begin capture")
        try:
            self._copies_and_execute()
        finally:
            graph = cuda_check(cudart, cudart.cudaStreamEndCapture(self.stream), "end capture")
        try:
            self.graph_exec = cuda_check(cudart, cudart.cudaGraphInstantiate(graph, 0),
                                         "cudaGraphInstantiate")
            self.graph = graph
        except CudaError:
            cudart.cudaGraphDestroy(graph)
            self.graph_exec = None

    def infer(self, batch: np.ndarray) -> np.ndarray:
        host_in = self._host[self.input.name]
        if batch is not host_in:
            if batch.shape != host_in.shape:
                raise ValueError(f"batch {batch.shape} does not fit the engine input "
                                 f"{host_in.shape}")
            np.copyto(host_in, batch, casting="same_kind" if batch.dtype == host_in.dtype
                      else "unsafe")
        self._enqueue()
        cuda_check(self.cudart, self.cudart.cudaStreamSynchronize(self.stream), "inference")
        return self._host[self.plan.output.name].copy()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        cudart = self.cudart
        if self.graph_exec is not None:
            cudart.cudaGraphExecDestroy(self.graph_exec)
        if self.graph is not None:
            cudart.cudaGraphDestroy(self.graph)
        if self.stream is not None:
            cudart.cudaStreamSynchronize(self.stream)
        for ptr in self._device.values():
            cudart.cudaFree(ptr)
        self._host.clear()  # no NumPy view may outlive its pinned memory
        for ptr in self._host_ptr.values():
            cudart.cudaFreeHost(ptr)
        if self.stream is not None:
            cudart.cudaStreamDestroy(self.stream)
        self._device.clear()
        self._host_ptr.clear()
        del self.context, self.engine, self.runtime  # context first: it uses the engine

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: modules may be gone
            pass
