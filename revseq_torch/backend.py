"""The surface a run uses: init, train an epoch, evaluate, decode, to and from numpy."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence

import numpy as np
import torch

from revseq.errors import RevseqError
from revseq.task import ablation
from revseq.task import backend as protocol
from revseq.task.batching import Batch
from revseq.task.config import Config
from revseq.task.init import init_params
from revseq.task.layout import check_shapes, param_shapes
from revseq_torch import model, train
from revseq_torch.beam import beam_search
from revseq_torch.decode import greedy_decode, greedy_decode_with_attention


class Backend:
    """PyTorch on the CPU; the params are the Seq2Seq module itself."""

    name = "torch"

    def __init__(self, cfg: Config, steps_per_epoch: int = 1, devices: int | None = 1):
        if devices != 1:
            raise RevseqError("--devices is for the JAX backend; torch runs on one device")
        self.cfg = cfg
        self.device_count, self.where = 1, "1 cpu device"
        self.schedule = train.learning_rate(cfg.train, steps_per_epoch)

    def init(self) -> train.Training:
        """Fresh params from the run's seed, and a fresh optimizer and dropout generator."""
        return self.start(init_params(self.cfg.model, self.cfg.train.seed))

    def start(self, params: dict[str, np.ndarray]) -> train.Training:
        """A training state starting from given numpy params (dropout from the run's config,
        drawn from a generator seeded with the run's seed)."""
        generator = torch.Generator().manual_seed(self.cfg.train.seed)
        module = model.load_params(model.build(self.cfg.model, generator), params)
        optimizer = train.make_optimizer(self.cfg.train, module.parameters())
        return train.Training(module, optimizer, generator)

    def compile(self, state, train_batches: Sequence[Batch]) -> None:
        """Eager PyTorch has nothing to compile ahead."""

    def train_epoch(
        self,
        state,
        batches: Sequence[Batch],
        *,
        on_call: Callable[[int, dict], None] = lambda done, sums: None,
        stop: Callable[[], bool] = lambda: False,
        start: dict | None = None,
    ):
        """A pass over the batches until stop() -> (state, metric sums added onto `start`:
        "loss_sum", "count", "grad_norm", "updates", "nonfinite", and "batches" run);
        on_call(batches done, sums) after each `chunk` steps (JAX's compiled call)."""
        sums = train.train_epoch(state, batches, cfg=self.cfg.train, schedule=self.schedule,
                                 on_call=on_call, stop=stop, start=start)  # fmt: skip
        return state, sums

    def snapshot(self, state: train.Training) -> dict[str, np.ndarray]:
        """The training state as named numpy arrays (revseq.training.resume lists the names;
        `rng.state` is the dropout generator's state)."""
        out = self.to_numpy(state.model)
        for k, p in state.model.named_parameters():
            moments = state.optimizer.state[p]  # empty before the first update
            for m, name in (("mu", "exp_avg"), ("nu", "exp_avg_sq")):
                out[f"adam.{m}.{k}"] = moments.get(name, torch.zeros_like(p)).numpy().copy()
        scalars = {"adam.count": state.step, "step": state.step, "nonfinite": state.nonfinite}
        out |= {k: np.asarray(v, np.int32) for k, v in scalars.items()}
        return out | {"rng.state": state.generator.get_state().numpy().copy()}

    def restore(self, arrays: dict[str, np.ndarray]) -> train.Training:
        """Inverse of snapshot: the model, its optimizer's state and the dropout generator's."""
        names = param_shapes(self.cfg.model)
        state = self.start({k: arrays[k] for k in names})
        state.step, state.nonfinite = int(arrays["step"]), int(arrays["nonfinite"])
        for k, p in state.model.named_parameters():
            state.optimizer.state[p] = {
                "step": int(arrays["adam.count"]),
                "exp_avg": torch.from_numpy(arrays[f"adam.mu.{k}"].copy()),
                "exp_avg_sq": torch.from_numpy(arrays[f"adam.nu.{k}"].copy()),
            }
        if "rng.state" in arrays:  # else the generator starts from the run's seed, as JAX's key
            state.generator.set_state(torch.from_numpy(arrays["rng.state"].copy()))
        return state

    def evaluate(self, state, batches: Sequence[Batch]) -> dict:
        """Free-running sums {"loss_sum", "count", "exact"} over the batches."""
        return train.evaluate(state.model, batches)

    def learning_rate(self, step: int) -> float:
        """The rate the run's schedule gives after `step` updates."""
        return float(self.schedule(step))

    def params(self, state: train.Training) -> model.Seq2Seq:
        """The model held by a training state."""
        return state.model

    def decode(
        self,
        params: model.Seq2Seq,
        src: np.ndarray,
        *,
        beam: int = 1,
        length_penalty: float = 0.0,
        attention: str = "model",
    ) -> tuple[np.ndarray, np.ndarray]:
        """Tokens [B, T] and attention [B, T, S] as numpy: greedy for beam 1, else the best
        hypothesis of a beam search of that width (revseq_torch.beam). attention "uniform" or
        "mirror" decodes greedily with every step's weights fixed by that rule instead of the
        model's (revseq.task.ablation)."""
        ablation.check(attention, beam)
        tokens_in = torch.from_numpy(np.asarray(src))
        if attention != ablation.MODEL:
            return greedy_decode_with_attention(params, tokens_in, attention)
        if beam == 1:
            tokens, weights = greedy_decode(params, tokens_in)
        else:
            tokens, _, weights = beam_search(params, tokens_in, beam, length_penalty)
        return tokens.numpy(), weights.numpy()

    def describe(self) -> list[str]:
        """A line naming torch's version and the device this backend uses."""
        return [f"torch {torch.__version__}: this backend uses {self.where}"]

    @staticmethod
    @contextlib.contextmanager
    def exact_matmuls():
        """A context in which float32 matmuls run at full precision (TF32 off on CUDA); the
        previous settings come back after."""
        saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved

    @staticmethod
    def to_numpy(params: model.Seq2Seq) -> dict[str, np.ndarray]:
        """Module -> flat {state_dict name: array} in the module's own dtype, copied (as the JAX
        backend's; revseq.training.checkpoint.save casts to float32 for the file)."""
        return {k: v.detach().cpu().numpy().copy() for k, v in params.state_dict().items()}

    def from_numpy(self, arrays: dict[str, np.ndarray]) -> model.Seq2Seq:
        """Flat {state_dict name: array} -> Seq2Seq of this backend's model config in eval
        mode, in the arrays' float dtype, every name and shape checked.

        Dropout 0: these params are for decoding; a run that trains from given params goes
        through start, which uses its own config.
        """
        check_shapes(arrays, self.cfg.model)
        cfg = dataclasses.replace(self.cfg.model, dropout=0.0)
        dtype = torch.from_numpy(np.asarray(next(iter(arrays.values())))).dtype
        return model.load_params(model.build(cfg).to(dtype), arrays).eval()


# mypy proves that this class satisfies the protocol every caller relies on.
_conforms: type[protocol.Backend] = Backend
