"""A decoded sentence: what a model made of a source, beside the reference and the attention."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Decoded:
    """One sentence: its source words, reference, prediction and attention [steps, n + 1]."""

    source: tuple[str, ...]
    reference: tuple[str, ...]
    prediction: tuple[str, ...]
    attention: np.ndarray

    @property
    def match(self) -> bool:
        return self.prediction == self.reference
