"""Static int8 ONNX graphs: int8 weights and activations with fixed, calibrated scales.

    tokens = calibration_tokens(backbone)                  # the shipped texts, this model's tokenizer
    quantize_int8(fp32_path, int8_path, tokens)            # what `finfusion.text.onnx_engine` runs

Why static: a dynamic int8 graph quantises each matrix product's input with one scale per call,
taken over every text of the call, so a text's vector depended on the texts it was encoded with,
and the engine ran one text per call. With the scales fixed, each row of a call is computed as
the text alone (integer products are exact; layer norms, attention and the float conversion work
per row or per text), so int8 calls are packed like fp32 ones (`finfusion.text.encoding`):
tests/text/test_onnx_engine.py checks it bit for bit.

How, from the fused fp32 graph:

1. `onnxruntime.quantization.quantize_dynamic`: int8 weights, one scale per output channel
   (per-tensor scales cost MiniLM ~0.05 of cosine, per-channel ~0.007), each quantised input made
   by a `DynamicQuantizeLinear` node.
2. Calibration: that graph, with every `DynamicQuantizeLinear` input as an extra output, runs each
   calibration text alone; an input's range is [min(0, lowest), max(0, highest)] over the texts.
3. Each `DynamicQuantizeLinear` becomes a `QuantizeLinear` whose uint8 scale and zero point are
   constants, computed from the calibrated range as `DynamicQuantizeLinear` computes them per call.
4. Each `MatMulInteger -> Cast -> Mul(scale_a * scale_b)` chain becomes one `MatMulIntegerToFloat`
   (com.microsoft): ONNX Runtime fuses it itself in dynamic graphs, but not once the scale product
   is a constant.

Why not `onnxruntime.quantization.quantize_static`: on the fused MiniLM graph (ORT 1.32) its
QOperator format fails (AttributeError in its MatMul quantiser) and its QDQ format quantises the
weights only (its type inference fails on the fused contrib ops): 238 texts/s against 585 here.

The calibration texts (calibration.txt, shipped with the package) are simulated tweets and
news-length texts, not data of any run: the ranges are a property of the model, like its weights,
and no run's training or test texts enter them. Measured on all-MiniLM-L6-v2 with texts it was not
calibrated on (cosine of the normalised mean-pooled vectors to fp32, min / mean): 1,200 real
StockNet tweets 0.9764 / 0.9914 (dynamic int8: 0.9738 / 0.9919); 200 news-length texts of five
Financial PhraseBank sentences 0.9849 / 0.9921 (dynamic 0.9844 / 0.9926). Widening the ranges by
25 % lowered both (0.9389 / 0.9874 on the tweets): resolution matters more than clipping here.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections import defaultdict
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from finfusion.text.tokens import token_ids

__all__ = ["CALIBRATION_LENGTH", "calibration_texts", "calibration_version", "calibration_tokens", "calibration_key", "quantize_int8"]

CALIBRATION_LENGTH = 128  # tokens per calibration text (truncation), whatever a model's own max_length


@functools.cache
def calibration_texts() -> tuple[str, ...]:
    """The shipped calibration texts (calibration.txt: one per line, '#' lines are comments)."""
    text = resources.files("finfusion.text").joinpath("calibration.txt").read_text(encoding="utf-8")
    return tuple(line for line in text.splitlines() if line.strip() and not line.startswith("#"))


@functools.cache
def calibration_version() -> str:
    """8 hex digits naming the calibration texts (part of the cache key of int8 outputs)."""
    return hashlib.sha256("\n".join(calibration_texts()).encode()).hexdigest()[:8]


def calibration_tokens(backbone: Any) -> list[np.ndarray]:
    """The calibration texts as token id arrays of `backbone`'s tokenizer (a
    `finfusion.text.tokens` backbone), truncated to CALIBRATION_LENGTH."""
    return token_ids(backbone, list(calibration_texts()), CALIBRATION_LENGTH)


def calibration_key(tokens: Sequence[np.ndarray]) -> str:
    """12 hex digits naming the calibration inputs (part of the int8 file's name)."""
    digest = hashlib.sha256()
    for ids in tokens:
        digest.update(np.asarray(ids, dtype=np.int64).tobytes() + b"|")
    return digest.hexdigest()[:12]


def quantize_int8(fp32: Path, target: Path, tokens: Sequence[np.ndarray]) -> None:
    """Write the static int8 graph of the fp32 graph at `fp32` to `target` (steps 1-4 of the
    module docstring), calibrated on `tokens` (token id arrays, each run alone)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if not len(tokens):
        raise ValueError("int8 calibration needs at least one text")
    dynamic = target.parent / f".{uuid.uuid4().hex}-dynamic.onnx"
    try:
        quantize_dynamic(str(fp32), str(dynamic), weight_type=QuantType.QInt8, per_channel=True,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})  # fused ops' output types
        model = onnx.load(str(dynamic))
    finally:
        dynamic.unlink(missing_ok=True)
    ranges = _calibrate(model, tokens)
    _fix_scales(model, ranges)
    _fuse_to_float(model)
    onnx.save(model, str(target))


def _calibrate(model: Any, tokens: Sequence[np.ndarray]) -> dict[str, tuple[float, float]]:
    """{input of each DynamicQuantizeLinear: (low, high)} over `tokens`, each text run alone."""
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    names = list(dict.fromkeys(n.input[0] for n in probe.graph.node if n.op_type == "DynamicQuantizeLinear"))
    probe.graph.output.extend(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None) for name in names)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    low, high = np.zeros(len(names)), np.zeros(len(names))
    for ids in tokens:
        ids = np.asarray(ids, dtype=np.int64)[None]
        outs = session.run(names, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
        low = np.minimum(low, [float(o.min()) for o in outs])
        high = np.maximum(high, [float(o.max()) for o in outs])
    return {name: (lo, hi) for name, lo, hi in zip(names, low, high)}


def _fix_scales(model: Any, ranges: dict[str, tuple[float, float]]) -> None:
    """Replace each DynamicQuantizeLinear by a QuantizeLinear with constant uint8 scale and zero
    point (its own outputs' names become the constants' names)."""
    from onnx import helper, numpy_helper

    graph, nodes = model.graph, []
    for node in graph.node:
        if node.op_type != "DynamicQuantizeLinear":
            nodes.append(node)
            continue
        low, high = ranges[node.input[0]]
        scale = (high - low) / 255.0 if high > low else 1.0
        zero = int(np.clip(np.rint(-low / scale), 0, 255))
        graph.initializer.extend([numpy_helper.from_array(np.array(scale, np.float32), node.output[1]),
                                  numpy_helper.from_array(np.array(zero, np.uint8), node.output[2])])
        nodes.append(helper.make_node("QuantizeLinear", [node.input[0], node.output[1], node.output[2]],
                                      [node.output[0]], name=node.name))
    del graph.node[:]
    graph.node.extend(nodes)


def _fuse_to_float(model: Any) -> None:
    """MatMulInteger -> Cast -> Mul(Mul(scale_a, scale_b)) chains -> one MatMulIntegerToFloat."""
    from onnx import helper

    graph = model.graph
    consumers: dict[str, list] = defaultdict(list)
    producer = {}
    for node in graph.node:
        for name in node.input:
            consumers[name].append(node)
        for name in node.output:
            producer[name] = node
    replaced, dropped = {}, set()
    for node in graph.node:
        chain = _float_chain(node, consumers, producer)
        if chain is None:
            continue
        cast, mul, scales, a_scale, b_scale = chain
        a, b, a_zero, b_zero = (list(node.input) + ["", ""])[:4]
        replaced[id(node)] = helper.make_node(
            "MatMulIntegerToFloat", [a, b, a_scale, b_scale, a_zero, b_zero], [mul.output[0]],
            name=f"{node.name}_to_float", domain="com.microsoft")
        dropped |= {id(cast), id(mul)} | ({id(scales)} if len(consumers[scales.output[0]]) == 1 else set())
    nodes = [replaced.get(id(n), n) for n in graph.node if id(n) not in dropped]
    del graph.node[:]
    graph.node.extend(nodes)


def _float_chain(node: Any, consumers: dict, producer: dict) -> tuple | None:
    """(Cast, Mul, scale-product Mul, scale of A, scale of B) after a MatMulInteger `node` whose A
    comes from a QuantizeLinear, or None where the graph differs."""
    if node.op_type != "MatMulInteger" or len(consumers[node.output[0]]) != 1:
        return None
    (cast,) = consumers[node.output[0]]
    if cast.op_type != "Cast" or len(consumers[cast.output[0]]) != 1:
        return None
    (mul,) = consumers[cast.output[0]]
    if mul.op_type != "Mul":
        return None
    other = mul.input[1] if mul.input[0] == cast.output[0] else mul.input[0]
    scales = producer.get(other)
    quantize = producer.get(node.input[0])
    if scales is None or scales.op_type != "Mul" or quantize is None or quantize.op_type != "QuantizeLinear":
        return None
    a_scale = quantize.input[1]
    if a_scale not in scales.input or len(scales.input) != 2:
        return None
    b_scale = scales.input[1] if scales.input[0] == a_scale else scales.input[0]
    return cast, mul, scales, a_scale, b_scale
