"""The uint8 input graph change, shared by the ONNX Runtime backend (in memory, at load) and the
engine tools (written into the ONNX TensorRT builds): the network takes the letterboxed uint8 BGR
frames (B,H,W,3) as they are and does BGR -> RGB, HWC -> CHW and / 255 itself.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

UINT8_INPUT_FORMAT = "uint8_bgr_nhwc"


class OnnxToolError(ValueError):
    """The ONNX model cannot be transformed as asked."""


def image_input(model: onnx.ModelProto) -> onnx.ValueInfoProto:
    """The graph's one image input (inputs that are initializers do not count)."""
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise OnnxToolError(f"expected one image input, found {[i.name for i in inputs]}")
    return inputs[0]


def input_dims(model: onnx.ModelProto) -> list[int | str]:
    dims = image_input(model).type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in dims]


def has_float_image_input(model: onnx.ModelProto) -> bool:
    """True for a float32 [B,3,H,W] image input: the input add_uint8_input converts."""
    try:
        inp = image_input(model)
    except OnnxToolError:
        return False
    dims = input_dims(model)
    return inp.type.tensor_type.elem_type == TensorProto.FLOAT and len(dims) == 4 and dims[1] == 3


def set_metadata(model: onnx.ModelProto, **values: str) -> None:
    props = {p.key: p for p in model.metadata_props}
    for key, value in values.items():
        if key in props:
            props[key].value = str(value)
        else:
            model.metadata_props.add(key=key, value=str(value))


def add_uint8_input(model: onnx.ModelProto, check: bool = True) -> onnx.ModelProto:
    """Prepend uint8 BGR NHWC -> float RGB NCHW / 255 to a float [B,3,H,W] model.

    The host then hands over the letterboxed frames as they are: a quarter of the bytes across
    PCIe and no normalization on the CPU. Same name for the new input; metadata
    `input_format = uint8_bgr_nhwc`. The result equals the float model on the host's
    normalization (x / 255 in float32, both ways). ``check``: run the ONNX checker.
    """
    model = onnx.ModelProto.FromString(model.SerializeToString())
    inp = image_input(model)
    tt = inp.type.tensor_type
    if tt.elem_type != TensorProto.FLOAT:
        raise OnnxToolError(f"input {inp.name!r} is not float32 (already uint8?)")
    b, c, h, w = input_dims(model)
    if c != 3:
        raise OnnxToolError(f"input {inp.name!r} is not [B,3,H,W]: {[b, c, h, w]}")
    name = inp.name
    inner = name + "_float"
    for node in model.graph.node:
        node.input[:] = [inner if x == name else x for x in node.input]
    nodes = [
        helper.make_node("Cast", [name], [name + "_f32"], to=TensorProto.FLOAT,
                         name="uint8_input/Cast"),
        helper.make_node("Transpose", [name + "_f32"], [name + "_nchw"], perm=[0, 3, 1, 2],
                         name="uint8_input/Transpose"),
        helper.make_node("Gather", [name + "_nchw", "uint8_input_bgr2rgb"], [name + "_rgb"],
                         axis=1, name="uint8_input/BGR2RGB"),
        helper.make_node("Div", [name + "_rgb", "uint8_input_255"], [inner],
                         name="uint8_input/Div"),
    ]
    model.graph.initializer.extend([
        numpy_helper.from_array(np.array([2, 1, 0], np.int64), "uint8_input_bgr2rgb"),
        numpy_helper.from_array(np.array(255.0, np.float32), "uint8_input_255")])
    for i, node in enumerate(nodes):
        model.graph.node.insert(i, node)
    new_input = helper.make_tensor_value_info(name, TensorProto.UINT8, [b, h, w, 3])
    idx = list(model.graph.input).index(inp)
    model.graph.input.remove(inp)
    model.graph.input.insert(idx, new_input)
    set_metadata(model, input_format=UINT8_INPUT_FORMAT)
    if check:
        onnx.checker.check_model(model)
    return model
