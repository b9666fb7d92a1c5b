"""The surface a run uses: init, train an epoch, evaluate, decode, to and from numpy."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from revseq.batching import Batch
from revseq.config import Config, ModelConfig
from revseq.layout import infer_config
from revseq_torch import model, train
from revseq_torch.decode import greedy_decode


def fold_seed(seed: int, *data: int) -> int:
    """A seed derived from seed and data, the role jax.random.fold_in plays on the JAX side."""
    return int(np.random.SeedSequence([seed, *data]).generate_state(1)[0])


def load_params(module: model.Seq2Seq, arrays: dict[str, np.ndarray]) -> model.Seq2Seq:
    """Copy flat {state_dict name: array} into module, every name and shape checked."""
    module.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()})
    return module


class Backend:
    """PyTorch on the CPU; the params are the Seq2Seq module itself."""

    name = "torch"

    def __init__(self, cfg: Config, steps_per_epoch: int = 1):
        self.cfg = cfg
        self.tx = train.make_optimizer(cfg.train, steps_per_epoch)
        self._seed = cfg.train.seed

    def init(self) -> train.TrainState:
        """Fresh params from the run's seed, and optimizer state."""
        return train.init_state(model.init_params(self._seed, self.cfg.model), self.tx)

    def start(self, params: dict[str, np.ndarray]) -> train.TrainState:
        """A training state starting from given numpy params (dropout from the run's config)."""
        module = load_params(model.init_params(self._seed, self.cfg.model), params)
        return train.init_state(module, self.tx)

    def compile(self, state, train_batches: Sequence[Batch], eval_batches: Sequence[Batch]):
        """Eager PyTorch has nothing to compile ahead."""

    def train_epoch(
        self, state, batches: Sequence[Batch], progress: Callable[[int], None] = lambda i: None
    ):
        """One pass over the batches -> (state, {"loss_sum", "count", "grad_norm"})."""
        # Dropout draws from torch's global generator: fork it and seed it from the run's seed
        # and the update count, so a run repeats exactly and other users' draws are untouched.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(fold_seed(self._seed, 1, state.opt.adam.count))
            metrics = train.train_epoch(state.model, state.opt, batches, progress)
        return state, metrics

    def evaluate(self, state, batches: Sequence[Batch]) -> dict:
        """Free-running sums {"loss_sum", "count", "exact"} over the batches."""
        return train.evaluate(state.model, batches)

    def params(self, state) -> model.Seq2Seq:
        """The model held by a training state."""
        return state.model

    def decode(self, params: model.Seq2Seq, src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Greedy tokens [B, T] and attention [B, T, S] as numpy."""
        tokens, weights = greedy_decode(params, torch.from_numpy(np.asarray(src)))
        return tokens.numpy(), weights.numpy()

    @staticmethod
    def to_numpy(params: model.Seq2Seq) -> dict[str, np.ndarray]:
        """Module -> flat {state_dict name: float32 array}, copied."""
        return {
            k: v.detach().cpu().numpy().astype(np.float32) for k, v in params.state_dict().items()
        }

    @staticmethod
    def from_numpy(arrays: dict[str, np.ndarray]) -> model.Seq2Seq:
        """Flat {state_dict name: array} -> Seq2Seq in eval mode, in the arrays' float dtype.

        The shapes give the ModelConfig (dropout 0: these params are for decoding; a run that
        trains from given params goes through start, which uses its own config).
        """
        cfg: ModelConfig = infer_config({k: tuple(np.shape(v)) for k, v in arrays.items()})
        dtype = torch.from_numpy(np.asarray(next(iter(arrays.values())))).dtype
        module = model.init_params(0, cfg).to(dtype)
        return load_params(module, arrays).eval()
