#!/usr/bin/python3
"""Make a dynamic-batch copy of yolox_nano.onnx (dev-time tool, not a runtime dependency).

Reads yolox_nano.onnx next to this script and writes yolox_nano_dynamic.onnx with:
  - dim 0 of every graph input and output turned into the symbolic dim "batch";
  - every constant Reshape target whose leading entry is a hard-coded batch 1 rewritten to 0 (= copy the
    input's dim 0), which keeps the semantics for any batch size;
  - stale value_info shapes cleared (ORT re-infers them);
  - the weights (initializers) left byte-identical, which the script checks before saving.
Other constants with a leading 1 (e.g. Resize scales [1,1,2,2]) are listed but not touched: they are not batch
sizes. Rerunnable: the output depends only on the input file. Needs the `onnx` Python package
(Debian: apt-get install python3-onnx, tested with onnx 1.12).

Usage: /usr/bin/python3 detectors/yolox/make-dynamic-batch.py [src.onnx] [dst.onnx]
"""

import hashlib
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "yolox_nano.onnx")
DST = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "yolox_nano_dynamic.onnx")
BATCH = "batch"

# Ops whose constant integer input is a target shape that may carry a batch dimension.
SHAPE_INPUTS = {"Reshape": 1, "Expand": 1, "Tile": 1, "ConstantOfShape": 0}


def main() -> int:
    model = onnx.load(SRC)
    graph = model.graph
    changes: list[str] = []
    weights_before = [init.SerializeToString() for init in graph.initializer]

    # 1. Symbolic batch on graph inputs and outputs.
    for vi in list(graph.input) + list(graph.output):
        dims = vi.type.tensor_type.shape.dim
        if not dims:
            continue
        before = dims[0].dim_param or str(dims[0].dim_value)
        if dims[0].dim_param == BATCH:
            continue
        dims[0].Clear()
        dims[0].dim_param = BATCH
        changes.append(f"{vi.name}: dim 0 {before} -> '{BATCH}'")

    # 2. Constants (initializers and Constant nodes) by output name.
    inits = {init.name: init for init in graph.initializer}
    const_nodes = {n.output[0]: n for n in graph.node if n.op_type == "Constant"}

    def const_value(name: str):
        if name in inits:
            return numpy_helper.to_array(inits[name])
        node = const_nodes.get(name)
        if node is not None:
            for attr in node.attribute:
                if attr.name == "value":
                    return numpy_helper.to_array(attr.t)
        return None

    def set_const(name: str, value: np.ndarray) -> None:
        if name in inits:
            raise SystemExit(f"refusing to modify initializer {name}: weights must stay unchanged")
        for attr in const_nodes[name].attribute:
            if attr.name == "value":
                attr.t.CopyFrom(numpy_helper.from_array(value, attr.t.name))

    consumers: dict[str, list[str]] = {}
    for node in graph.node:
        for i in node.input:
            consumers.setdefault(i, []).append(f"{node.op_type} {node.name}")

    # 3. Hard-coded batch 1 in shape targets.
    for node in graph.node:
        idx = SHAPE_INPUTS.get(node.op_type)
        if idx is None or len(node.input) <= idx:
            continue
        name = node.input[idx]
        value = const_value(name)
        if value is None:
            print(f"ok      {node.op_type} {node.name}: target '{name}' is computed at run time (no hard-coded batch)")
            continue
        if value.ndim != 1 or value.size == 0 or value[0] != 1:
            print(f"ok      {node.op_type} {node.name}: constant target {value.tolist()} has no leading 1")
            continue
        if node.op_type != "Reshape":
            raise SystemExit(f"{node.op_type} {node.name} has constant target {value.tolist()}: fix by hand")
        if len(consumers.get(name, [])) > 1:
            raise SystemExit(f"constant {name} is shared by {consumers[name]}: fix by hand")
        allowzero = any(a.name == "allowzero" and a.i for a in node.attribute)
        if allowzero:
            raise SystemExit(f"Reshape {node.name} has allowzero=1, 0 would not copy the batch: fix by hand")
        fixed = value.copy()
        fixed[0] = 0  # Reshape: 0 copies the input's dim 0, i.e. the batch
        set_const(name, fixed)
        changes.append(f"Reshape {node.name}: target {value.tolist()} -> {fixed.tolist()}")

    # 4. Report any other small integer/float constant with a leading 1, for the record.
    for node in graph.node:
        if node.op_type == "Constant":
            continue
        for i in node.input:
            value = const_value(i)
            if value is None or i in inits and value.size > 8:
                continue
            if value.ndim == 1 and 1 < value.size <= 8 and value[0] == 1:
                print(f"note    {node.op_type} {node.name}: constant {value.tolist()} has a leading 1, "
                      "not a batch size (left as is)")

    # 5. Stale intermediate shapes.
    if len(graph.value_info):
        changes.append(f"cleared {len(graph.value_info)} value_info entries")
        del graph.value_info[:]

    weights_after = [init.SerializeToString() for init in graph.initializer]
    if weights_before != weights_after:
        raise SystemExit("initializers changed: refusing to save")

    onnx.checker.check_model(model)
    inferred = onnx.shape_inference.infer_shapes(model)
    for vi in inferred.graph.output:
        dims = [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]
        print(f"shape inference: output {vi.name} {dims}")

    onnx.save(model, DST)
    with open(DST, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    print(f"onnx {onnx.__version__}; {len(graph.initializer)} initializers unchanged")
    for c in changes:
        print(f"changed {c}")
    print(f"wrote {DST}\nsha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
