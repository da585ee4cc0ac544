"""Static int8 ONNX graphs (finfusion.text.onnx_int8): scales worked out by hand, fixed scales in
the graph (no per-call quantisation), the fused integer products, the calibration texts and key.
(Packed int8 calls equal each text alone: tests/text/test_batch_invariance.py, "frozen-onnx-int8".)"""

from __future__ import annotations

import collections

import numpy as np
import pytest

from finfusion.text import onnx_engine, onnx_int8
from finfusion.text.encoder import TextEncoder

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def dynamic_quantizer() -> "onnx.ModelProto":
    """x (float) -> DynamicQuantizeLinear -> (q, scale, zero point), all three graph outputs."""
    from onnx import TensorProto, helper

    node = helper.make_node("DynamicQuantizeLinear", ["x"], ["q", "s", "z"], name="dq")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])],
                              [helper.make_tensor_value_info("q", TensorProto.UINT8, [None]),
                               helper.make_tensor_value_info("s", TensorProto.FLOAT, []),
                               helper.make_tensor_value_info("z", TensorProto.UINT8, [])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_fixed_scales_are_those_of_the_calibrated_range():
    model = dynamic_quantizer()
    onnx_int8._fix_scales(model, {"x": (-1.0, 3.0)})
    assert [n.op_type for n in model.graph.node] == ["QuantizeLinear"]
    constants = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    assert constants["s"] == np.float32(4.0 / 255) and constants["z"] == 64  # round(1 / (4 / 255)) = round(63.75)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    q, = session.run(["q"], {"x": np.array([-1.0, 0.0, 3.0, 10.0, -5.0], np.float32)})
    assert q.tolist() == [0, 64, 255, 255, 0]  # the calibrated ends, zero exact, saturation outside
    # the same range seen by DynamicQuantizeLinear in one call gives the same scale and zero point
    s, z = ort.InferenceSession(dynamic_quantizer().SerializeToString(), providers=["CPUExecutionProvider"]).run(
        ["s", "z"], {"x": np.array([-1.0, 3.0], np.float32)})
    assert np.isclose(s, constants["s"]) and z == constants["z"]


def test_the_int8_graph_has_fixed_scales_and_fused_integer_products(tiny_bert, onnx_cache_dir):
    enc = TextEncoder(tiny_bert, engine="onnx", precision="int8")
    tokens = onnx_int8.calibration_tokens(enc._backbone)
    path = onnx_engine.exported(enc._backbone.model, kind="encoder", precision="int8", where="test",
                                model_hash=enc._backbone.disk_key.current(), calibration=tokens)
    ops = collections.Counter(n.op_type for n in onnx.load(str(path)).graph.node)
    assert ops["DynamicQuantizeLinear"] == 0 and ops["QuantizeLinear"] > 0
    assert ops["MatMulIntegerToFloat"] > 0 and ops["MatMulInteger"] == 0  # every chain fused
    assert path.name == f"int8-{onnx_int8.calibration_key(tokens)}.onnx"
    other = onnx_engine.exported(enc._backbone.model, kind="encoder", precision="int8", where="test",
                                 model_hash=enc._backbone.disk_key.current(), calibration=tokens[:20])
    assert other != path and other.is_file()  # other calibration inputs: another file


def test_int8_needs_calibration(tiny_bert, onnx_cache_dir):
    enc = TextEncoder(tiny_bert)
    with pytest.raises(ValueError, match="int8 needs calibration token ids"):
        onnx_engine.exported(enc._backbone.model, kind="encoder", precision="int8", where="test", model_hash=None)


def test_the_calibration_texts_ship_with_the_package():
    texts = onnx_int8.calibration_texts()
    assert len(texts) == 256 == len(set(texts)) and not any(t.startswith("#") for t in texts)
    assert sum(len(t) > 300 for t in texts) == 64  # the news-length ones
    assert len(onnx_int8.calibration_version()) == 8
    assert onnx_int8.calibration_key([np.array([1, 2])]) != onnx_int8.calibration_key([np.array([1]), np.array([2])])
