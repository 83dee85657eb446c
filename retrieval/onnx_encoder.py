"""The sentence encoder run by ONNX Runtime: the same model, exported once from the packaged weights, with
sentence-transformers' mean pooling and normalization. On 2 CPU cores a one-message pass takes ~8 ms against
torch's ~30 ms (`recochat bench scale`'s encoder table), with top-10 agreement 1.000 and mean cosine 1.0000.

Why not sentence-transformers' own `backend="onnx"`: it needs optimum-onnx, which pins transformers < 4.58,
and the locked sentence-transformers needs a newer one. The export here uses torch.onnx (already installed for
the torch backend), so no hub and no new dependency; it is cached per model under the user's cache folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

EXPORT_VERSION = 1
"""Bumped when the exported graph changes, so an older cached export is made again."""


def max_length_of(model_path: Path) -> int:
    """The token limit sentence-transformers applies to this model (`sentence_bert_config.json`), else 256."""
    try:
        return int(json.loads((model_path / "sentence_bert_config.json").read_text())["max_seq_length"])
    except (OSError, ValueError, KeyError, TypeError):
        return 256


def export_path(model_path: Path, cache: Path) -> Path:
    """Where this model's export lives: keyed by the model folder and its weights' sizes, so a changed model
    (a fine-tuned one written to the same folder) is exported again."""
    weights = sorted((p.name, p.stat().st_size) for p in model_path.glob("*.safetensors")) or [("", 0)]
    key = hashlib.sha256(json.dumps([str(model_path.resolve()), weights, EXPORT_VERSION]).encode()).hexdigest()
    return cache / f"{model_path.name}-{key[:16]}" / "model.onnx"


_export_lock = threading.Lock()


def export(model_path: Path, target: Path) -> Path:
    """Export the model's token embeddings (fp32) through torch.onnx, eager attention with explicit positions and
    mask so the traced graph has no baked-in shapes; written next to `target` and renamed into place, so a
    crashed export never leaves a half file that later starts would load."""
    with _export_lock:
        if target.exists():
            return target
        import torch
        from transformers import AutoModel, AutoTokenizer

        target.parent.mkdir(parents=True, exist_ok=True)
        model = AutoModel.from_pretrained(str(model_path), attn_implementation="eager").eval()
        tokenizer = AutoTokenizer.from_pretrained(str(model_path))

        class Hidden(torch.nn.Module):
            def __init__(self, bert: Any) -> None:
                super().__init__()
                self.bert = bert

            def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
                b, n = input_ids.shape
                positions = torch.arange(n, dtype=torch.long).unsqueeze(0).expand(b, n)
                mask = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * -1e9
                hidden = self.bert.embeddings(
                    input_ids=input_ids, token_type_ids=token_type_ids, position_ids=positions
                )
                for layer in self.bert.encoder.layer:
                    out = layer(hidden, attention_mask=mask)
                    hidden = out[0] if isinstance(out, tuple) else out
                return hidden

        sample = tokenizer(["a sample sentence for tracing", "short"], padding=True, return_tensors="pt")
        names = ["input_ids", "attention_mask", "token_type_ids"]
        partial = target.with_suffix(".partial")
        with torch.no_grad():
            torch.onnx.export(
                Hidden(model),
                tuple(sample[n] for n in names),
                str(partial),
                input_names=names,
                output_names=["hidden"],
                dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "hidden"]},
                opset_version=17,
                dynamo=False,
            )
        partial.replace(target)
        log.info("exported the encoder %s to ONNX at %s", model_path, target)
        return target


class OnnxEncoder:
    """Encodes like the torch backend (same tokenizer, truncation, mean pooling, L2 norm) with an ONNX Runtime
    session; `session.run` is thread-safe, so concurrent turns need no lock."""

    def __init__(self, model_file: Path, tokenizer_dir: Path, max_length: int, batch_size: int = 64) -> None:
        import onnxruntime
        from transformers import AutoTokenizer

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # warnings about unused initializers are noise here
        # no busy-waiting between passes: spinning threads burned CPU the turns around them needed (50 users at
        # once: 8.85 ms CPU per turn against 6.64 with torch, before this)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        self.tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
        self.max_length = max_length
        self.batch_size = batch_size
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.dim = int(self.session.get_outputs()[0].shape[-1])

    def encode_texts(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        """Tokenized once, then run in passes of texts of alike length (`passes`), back in the caller's order."""
        tokens = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)
        ids, type_ids = tokens["input_ids"], tokens.get("token_type_ids")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for rows in passes([len(i) for i in ids], self.batch_size):
            width = len(ids[rows[0]])
            mask = np.zeros((len(rows), width), dtype=np.int64)
            feed = {"input_ids": np.full((len(rows), width), self.tokenizer.pad_token_id or 0, dtype=np.int64)}
            for slot, row in enumerate(rows):
                feed["input_ids"][slot, : len(ids[row])] = ids[row]
                mask[slot, : len(ids[row])] = 1
            feed["attention_mask"] = mask
            feed["token_type_ids"] = np.zeros_like(mask)
            if type_ids is not None:
                for slot, row in enumerate(rows):
                    feed["token_type_ids"][slot, : len(type_ids[row])] = type_ids[row]
            hidden = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            out[rows] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out


PASS_COST_TOKENS = 14
"""What one pass costs beyond its tokens, in tokens' worth: a pass of b texts padded to n tokens took about
1.8 + 0.13·b·n ms (2 cores, MiniLM-L6, n 3 to 96, b 1 to 4), the weights read once per pass."""


def passes(lengths: list[int], batch_size: int) -> list[list[int]]:
    """The texts (by position) split into passes of at most `batch_size`, longest first, that cost the least
    under `PASS_COST_TOKENS`: a pass is padded to its longest text, so "i loved it, something more mind-bending"
    and "mind-bending" go together, while a long message and two short phrases go in two passes (8.8 ms for the
    three against 11.7 ms padded into one). Texts of alike length are contiguous once sorted, so the best split is
    a dynamic programme over the sorted order."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    best = [0] + [0] * len(order)  # best[i]: the least cost of the first i texts of `order`
    start = [0] * (len(order) + 1)
    for end in range(1, len(order) + 1):
        best[end], start[end] = min(
            (best[first] + PASS_COST_TOKENS + (end - first) * lengths[order[first]], first)
            for first in range(max(0, end - batch_size), end)
        )
    split: list[list[int]] = []
    end = len(order)
    while end:
        split.insert(0, order[start[end] : end])
        end = start[end]
    return split
