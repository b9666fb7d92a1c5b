"""The surface a run uses: init, train an epoch, evaluate, decode, to and from numpy."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from revseq.task import ablation
from revseq.task import backend as protocol
from revseq.task.batching import Batch
from revseq.task.config import Config
from revseq.task.init import init_params
from revseq.task.layout import check_shapes, param_shapes
from revseq_jax import model, optim, sharding, train
from revseq_jax.beam import beam_search
from revseq_jax.decode import greedy_decode, greedy_decode_with_attention


def use_compilation_cache(path: str) -> None:
    """Keep compiled steps on disk in `path`, for this process: a second run with the same
    shapes then starts in a fraction of the compile time. A process-wide JAX setting, so only
    the command-line tools call it (revseq.cli.compilation_cache); the library never does."""
    jax.config.update("jax_compilation_cache_dir", path)


class Backend:
    """JAX on the local devices jax finds (CPU, GPU, TPU): `devices` of them (None: all) in a
    data-parallel mesh, every batch split over them, params and optimizer state replicated.
    In a multi-process run (revseq.training.processes) the mesh spans every process's devices."""

    name = "jax"

    def __init__(self, cfg: Config, steps_per_epoch: int = 1, devices: int | None = 1):
        self.cfg = cfg
        self.mesh = sharding.make_mesh(devices)
        self.device_count = n = self.mesh.size
        self.where = f"{n} {self.mesh.devices.flat[0].platform} device{'s' if n > 1 else ''}"
        if (processes := jax.process_count()) > 1:
            self.where += f" of {processes} processes"
        self._schedule = train.learning_rate(cfg.train, steps_per_epoch)
        self.tx = train.make_optimizer(cfg.train, steps_per_epoch)
        self._train_chunk = train.make_train_chunk(
            cfg.model, self.tx, skip_nonfinite=cfg.train.skip_nonfinite,
            compute_dtype=cfg.train.compute_dtype,
        )  # fmt: skip
        self._key = jax.random.key(cfg.train.seed)

    def _place(self, chunk):
        """A (stacked [K, B, ...] batches, live [K]) chunk split over the mesh by rows."""
        return sharding.split(chunk, self.mesh, axis=1)

    def init(self) -> train.TrainState:
        """Fresh params from the run's seed, and optimizer state."""
        return self.start(init_params(self.cfg.model, self.cfg.train.seed))

    def start(self, params: dict[str, np.ndarray]) -> train.TrainState:
        """A training state starting from given numpy params."""
        return train.init_state(self.from_numpy(params), self.tx)

    def compile(self, state, train_batches: Sequence[Batch]) -> None:
        """Compile the train step for every batch shape now (the decoders compile when first
        called: validation's after the first epoch, the report's after training)."""
        for b in {b.src.shape: b for b in train_batches}.values():
            self.compile_train(state, b)

    def compile_train(self, state, batch: Batch) -> None:
        """Compile the train chunk for this batch's shape (the jitted call then reuses it)."""
        stacked, live = self._place(train.chunks([batch], self.cfg.train.chunk)[0])
        self._train_chunk.lower(state, stacked, live, self._key).compile()

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
        on_call(batches done, sums) after each compiled call (a chunk of steps)."""
        return train.train_epoch(
            self._train_chunk, state, batches, key=self._key, size=self.cfg.train.chunk,
            on_call=on_call, stop=stop, start=start, place=self._place,
        )  # fmt: skip

    def snapshot(self, state) -> dict[str, np.ndarray]:
        """The training state as named numpy arrays (revseq.training.resume lists the names)."""
        adam = optim.find_adam_state(state.opt_state)
        out = self.to_numpy(state.params)
        for m in ("mu", "nu"):
            out |= {f"adam.{m}.{k}": v for k, v in self.to_numpy(getattr(adam, m)).items()}
        scalars = {"adam.count": adam.count, "step": state.step, "nonfinite": state.nonfinite}
        out |= {k: np.asarray(v) for k, v in scalars.items()}
        return out | {"rng.key": np.asarray(jax.random.key_data(self._key))}

    def restore(self, arrays: dict[str, np.ndarray]) -> train.TrainState:
        """Inverse of snapshot: the training state, and the dropout key it was drawing from."""
        names = param_shapes(self.cfg.model)
        params = self.from_numpy({k: arrays[k] for k in names})

        def tree(prefix):
            return model.unflatten({k: arrays[prefix + k] for k in names})

        count = jnp.asarray(arrays["adam.count"])
        adam = optim.ScaleByAdamState(count, tree("adam.mu."), tree("adam.nu."))
        state = train.init_state(params, self.tx)
        if "rng.key" in arrays:
            self._key = jax.random.wrap_key_data(jnp.asarray(arrays["rng.key"]))
        opt_state = optim.with_adam_state(state.opt_state, adam)
        step, nonfinite = jnp.asarray(arrays["step"]), jnp.asarray(arrays["nonfinite"])
        state = train.TrainState(step, params, opt_state, nonfinite)
        return sharding.replicate(state, self.mesh)

    def evaluate(self, state, batches: Sequence[Batch]) -> dict:
        """Free-running sums {"loss_sum", "count", "exact"} over the batches."""
        return train.evaluate(
            self.cfg.model, state.params, [sharding.split(b, self.mesh) for b in batches]
        )

    def learning_rate(self, step: int) -> float:
        """The rate the run's schedule gives after `step` updates."""
        rate = self._schedule
        return float(rate(jnp.asarray(step)) if callable(rate) else rate)

    def params(self, state) -> dict:
        """The model params held by a training state."""
        return state.params

    def decode(
        self,
        params: dict,
        src: np.ndarray,
        *,
        beam: int = 1,
        length_penalty: float = 0.0,
        attention: str = "model",
    ) -> tuple[np.ndarray, np.ndarray]:
        """Tokens [B, T] and attention [B, T, S] as numpy: greedy for beam 1, else the best
        hypothesis of a beam search of that width (revseq_jax.beam). attention "uniform" or
        "mirror" decodes greedily with every step's weights fixed by that rule instead of the
        model's (revseq.task.ablation)."""
        ablation.check(attention, beam)
        if attention != ablation.MODEL:
            place = lambda x: sharding.split(x, self.mesh)  # noqa: E731
            return greedy_decode_with_attention(params, self.cfg.model, src, attention, place)
        if beam == 1:
            placed, blank = sharding.split((src, np.zeros_like(src)), self.mesh)
            tokens, weights = greedy_decode(params, self.cfg.model, placed, blank)
        else:
            placed = sharding.split(src, self.mesh)
            tokens, _, weights = beam_search(params, self.cfg.model, placed, beam, length_penalty)
        return sharding.fetch(tokens), sharding.fetch(weights)

    def describe(self) -> list[str]:
        """Lines naming the platform, the devices jax sees and those this backend uses."""
        every = jax.devices()
        return [
            f"jax platform {jax.default_backend()}: {len(every)} device(s), "
            f"{jax.process_count()} process(es); this backend uses {self.where}",
            *(f"  {d.id}: {d.device_kind}" for d in self.mesh.devices.flat),
        ]

    @staticmethod
    def exact_matmuls():
        """A context in which float32 matmuls run at full precision (no TF32 on GPUs, no
        bfloat16 passes on TPUs): for comparing numbers, not for speed."""
        return jax.default_matmul_precision("highest")

    @staticmethod
    def to_numpy(params: dict) -> dict[str, np.ndarray]:
        """Nested params -> flat {state_dict name: array}."""
        return {k: np.asarray(v) for k, v in model.flatten(params).items()}

    def from_numpy(self, arrays: dict[str, np.ndarray]) -> dict:
        """Flat {state_dict name: array} -> nested params, every shape checked.

        The JAX params keep PyTorch's [out, in] weight layout, so nothing is transposed.
        """
        check_shapes(arrays, self.cfg.model)
        params = model.unflatten({k: np.asarray(v) for k, v in arrays.items()})
        return sharding.replicate(params, self.mesh)


# mypy proves that this class satisfies the protocol every caller relies on.
_conforms: type[protocol.Backend] = Backend
