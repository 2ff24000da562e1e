"""Texts that exercise an encoder's edge cases, and comparing two encoders' vectors."""

from __future__ import annotations

import hashlib

import numpy as np

VARIED_TEXTS = [
    "dragons",
    "",
    "   leading and trailing spaces   ",
    "A LIGHTHOUSE KEEPER WHO COUNTS SHIPS THAT NEVER ARRIVE!!!",
    "time travel, grief, and a very small cat",
    "Ünïcödé café — naïve 東京 🐉 emoji and accents",
    "You are a mapmaker in a kingdom where a road only exists once someone draws it. "
    "The duke pays you to ink a highway straight through the marsh to his rival's gate.",
    "word " * 400,  # longer than max_seq_length: must truncate exactly like torch
    "x",
    "a story about    whitespace\tand\nnewlines",
]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-by-row cosine similarity of two equally shaped matrices."""
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


class TextHashEncoder:
    """A stand-in encoder for tests about what gets encoded, not how well: each text maps to a
    fixed pseudo-random unit vector (seeded by its hash), and every encoded text is logged."""

    def __init__(self, dim: int = 16) -> None:
        self.dim = dim
        self.encoded: list[str] = []

    def encode(
        self, texts: list[str], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        self.encoded += texts
        rows = [self.vector(text) for text in texts]
        return np.vstack(rows) if rows else np.empty((0, self.dim), dtype=np.float32)

    def vector(self, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
        row = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
        return row / np.linalg.norm(row)
