"""Declaring the node's parameters on a node, and its SetParameters handler. The table and the
rules live in core/params.py (ROS-free, shared with the offline tools) and are re-exported here."""
from __future__ import annotations

from typing import Any

from ..core.params import (BY_NAME, DEFAULTS, PARAMS, ConfigError, ParamSpec,  # noqa: F401
                           car_geometry, decode_config, merged, rig_reference, rig_thresholds,
                           stereo_config, unknown_parameters, validate)


def declare_parameters(node: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """Declare every parameter on ``node`` (description, range, choices, read-only); return the
    values and, by name, the reasons for values rclpy refused (out of range, wrong type): those
    keep their default here, and configure fails with the reason (one line that names the
    parameter) until a run-time parameter is set to a valid value (autostart false: fixed live;
    a read-only one needs the params file or the launch argument fixed and a restart, and its
    reason says so)."""
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
    from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
    try:  # Jazzy and newer; Humble returns None for a typed parameter without a value
        from rclpy.exceptions import ParameterUninitializedException
    except ImportError:  # pragma: no cover - Humble
        ParameterUninitializedException = LookupError  # type: ignore[misc, assignment]
    overrides = getattr(node, "_parameter_overrides", {})
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}  # name -> why its start value was refused
    for spec in PARAMS:
        descriptor = ParameterDescriptor(description=spec.description, read_only=spec.read_only)
        if spec.choices:
            descriptor.additional_constraints = "one of: " + ", ".join(spec.choices)
        if spec.range is not None:
            if isinstance(spec.default, int) and not isinstance(spec.default, bool):
                descriptor.integer_range = [IntegerRange(from_value=int(spec.range[0]),
                                                         to_value=int(spec.range[1]), step=1)]
            else:
                descriptor.floating_point_range = [FloatingPointRange(
                    from_value=float(spec.range[0]), to_value=float(spec.range[1]), step=0.0)]
        default = array_type(spec.type_name) if spec.type_name else spec.default  # empty, typed
        try:
            node.declare_parameter(spec.name, default, descriptor)
        except (InvalidParameterValueException, InvalidParameterTypeException) as exc:
            given = overrides.get(spec.name)
            shown = f" = {given.value!r}" if given is not None else ""
            if isinstance(exc, InvalidParameterValueException) and spec.range:
                errors[spec.name] = (f"parameter {spec.name}{shown} must lie in "
                                     f"[{spec.range[0]:g}, {spec.range[1]:g}]")
            elif given is not None:
                errors[spec.name] = f"parameter {type_refusal(spec, given)}"
            else:
                errors[spec.name] = f"parameter {spec.name} must be {type_name(spec)}"
            if spec.read_only:
                errors[spec.name] += " (read-only: fix it where it is set and restart)"
            node.declare_parameter(spec.name, default, descriptor, ignore_override=True)
        try:
            value = node.get_parameter(spec.name).value
        except ParameterUninitializedException:
            value = None
        if spec.type_name:
            value = list(value) if value is not None else []
        elif isinstance(spec.default, float) and isinstance(value, int) \
                and not isinstance(value, bool):
            value = float(value)
        values[spec.name] = value
    return values, errors


def array_type(name: str) -> Any:
    """rclpy's Parameter.Type of an array parameter's ``type_name``."""
    from rclpy.parameter import Parameter
    return {"string_array": Parameter.Type.STRING_ARRAY,
            "double_array": Parameter.Type.DOUBLE_ARRAY}[name]


def type_name(spec: ParamSpec) -> str:
    return spec.type_name or type(spec.default).__name__


def type_refusal(spec: ParamSpec, given: Any) -> str:
    """"NAME = VALUE must be TYPE" for a value (an rclpy Parameter) of the wrong type, with
    what to write where the value is a whole number for a float (`-p max_depth:=40`, `ros2
    param set ... conf_threshold 1`): at start and at run time alike."""
    from rclpy.parameter import Parameter
    name, value = type_name(spec), given.value
    hint = ""
    if name == "float" and type(value) is int:
        hint = f" (write {value}.0)"
    elif name == "double_array" and given.type_ == Parameter.Type.INTEGER_ARRAY:
        hint = " (write 1.0, not 1)"
    shown = list(value) if spec.type_name and value is not None else repr(value)
    return f"{spec.name} = {shown} must be {name}{hint}"


def readable_refusal(reason: str, params: list) -> str:
    """rclpy's reason for a refused change, as a person reads it: its type refusal ("Wrong
    parameter type, expected '3' got '2'") says which parameter and what to write; other
    reasons as they are."""
    if reason.startswith("Wrong parameter type"):
        from rclpy.parameter import Parameter
        for p in params:
            spec = BY_NAME.get(p.name)
            if spec is None:
                continue
            expected = (array_type(spec.type_name) if spec.type_name
                        else Parameter.Type.from_parameter_value(spec.default))
            if p.type_ != expected:
                return type_refusal(spec, p)
    return reason


def set_parameters_as_a_whole(node: Any, request: Any, response: Any) -> Any:
    """rcl_interfaces/SetParameters judged by the values the request would produce together
    (min_depth 50 with max_depth 100 at once is valid) and applied atomically. Read-only
    parameters given their current value (a dumped params file loaded back) are left alone;
    every parameter gets the request's verdict."""
    from rclpy.parameter import Parameter
    params = [Parameter.from_parameter_msg(p) for p in request.parameters]
    response.results = [judged_as_a_whole(node, params)] * len(params)
    return response


def set_parameters_atomically(node: Any, request: Any, response: Any) -> Any:
    """rcl_interfaces/SetParametersAtomically, judged as set_parameters_as_a_whole judges."""
    from rclpy.parameter import Parameter
    response.result = judged_as_a_whole(
        node, [Parameter.from_parameter_msg(p) for p in request.parameters])
    return response


def judged_as_a_whole(node: Any, params: list) -> Any:
    """One SetParametersResult for ``params`` applied together; a refusal (the node's rules or
    rclpy's: range, type, read-only) is counted, readable and logged once."""
    from rcl_interfaces.msg import SetParametersResult
    unknown = [p.name for p in params if not node.has_parameter(p.name)]
    node.refusal_logged = False
    if unknown:
        result = SetParametersResult(successful=False,
                                     reason=f"not a parameter of this node: {', '.join(unknown)}")
    else:
        changing = [p for p in params if not (
            p.name in BY_NAME and BY_NAME[p.name].read_only
            and merged({}, {p.name: p.value}).get(p.name) == node.values.get(p.name))]
        result = node.set_parameters_atomically(changing) if changing else \
            SetParametersResult(successful=True)
    if not result.successful:  # refused (ours or rclpy's rules): counted in /diagnostics
        node.stats.count("parameters_refused")
        result.reason = readable_refusal(result.reason, params)
        if not getattr(node, "refusal_logged", False):  # rclpy's own (range, type, read-only):
            node.get_logger().warning(f"parameter change refused: {result.reason}")  # logged
    node.refusal_logged = False  # here; ours, by the node's callback
    return result
