"""Shared fixtures: small configs and random params for backend tests."""

from __future__ import annotations

import pytest

from revseq.config import ModelConfig


@pytest.fixture
def small_cfg() -> ModelConfig:
    return ModelConfig(vocab_size=12, embed_dim=6, hidden_dim=8, num_layers=2, dropout=0.0)
