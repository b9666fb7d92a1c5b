"""Layer by layer: parameter round trip, GRU, encoder, attention, one decoder step; with the
JAX side jitted and under jax.disable_jit() (the only file that runs both: everything above
the layers is built of them)."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from shared import CFG, F32, LENGTHS, assert_close, jax_params, ragged_batch, torch_model

from conftest import in_mode
from revseq.task.config import Config
from revseq.task.layout import param_shapes
from revseq.task.vocab import PAD
from revseq_jax import attention, gru, model
from revseq_jax.backend import Backend as JaxBackend
from revseq_torch.backend import Backend as TorchBackend


@pytest.fixture(
    params=[
        ("float64", True),
        ("float64", False),
        pytest.param(("float32", True), marks=F32),
        pytest.param(("float32", False), marks=F32),
    ],
    ids=["f64-jit", "f64-nojit", "f32-jit", "f32-nojit"],
)
def mode(request):
    """dtype x (jitted | jax.disable_jit()), with the dtype's tolerance."""
    yield from in_mode(*request.param)


def test_parameter_round_trip_is_exact_in_both_directions(case, mode):
    """Each backend's to_numpy gives back what went in, bit for bit and in the mode's dtype, and
    so does torch -> numpy -> JAX -> numpy and JAX -> numpy -> torch -> numpy."""
    cfg, weights = case.cfg, case.weights
    params = jax_params(weights, mode, cfg)
    module = torch_model(weights, mode, cfg)
    assert list(module.state_dict()) == list(param_shapes(cfg))  # the notebook's order and names
    via_jax = JaxBackend.to_numpy(params)
    via_torch = TorchBackend.to_numpy(module)
    # nothing is transposed, reordered or cast on the way (the converters' own dtype is kept)
    torch_jax = JaxBackend.to_numpy(JaxBackend(Config(model=cfg)).from_numpy(via_torch))
    jax_torch = TorchBackend.to_numpy(TorchBackend(Config(model=cfg)).from_numpy(via_jax))
    paths = {"JAX": via_jax, "torch": via_torch, "torch->JAX": torch_jax, "JAX->torch": jax_torch}
    for path, arrays in paths.items():
        assert sorted(arrays) == sorted(param_shapes(cfg)), path
        for k, v in weights.items():
            expected = v.astype(mode.dtype)
            assert arrays[k].dtype == expected.dtype, f"{path} {k}: {arrays[k].dtype}"
            np.testing.assert_array_equal(arrays[k], expected, err_msg=f"{path} {k}")


def test_gru_outputs_and_final_states(weights, mode):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(len(LENGTHS), 10, CFG.embed_dim)).astype(mode.dtype)
    mask = np.arange(10)[None, :] < np.array(LENGTHS)[:, None] + 1
    p = jax_params(weights, mode)["encoder"]["gru"]
    out_j, h_j = mode.jax_fn(gru.gru)(p, jnp.asarray(x), jnp.asarray(mask))
    with torch.no_grad():
        out_t, h_t = torch_model(weights, mode).encoder.gru(
            torch.from_numpy(x), torch.from_numpy(mask)
        )
    assert_close("gru outputs", out_j, mode.np(out_t), mode.tol)
    assert_close("gru final states", h_j, mode.np(h_t), mode.tol)


def test_encoder(weights, mode):
    src = ragged_batch().src
    enc_j, h_j = mode.jax_fn(lambda p, s: model.encode(p, CFG, s))(
        jax_params(weights, mode), jnp.asarray(src)
    )
    with torch.no_grad():
        enc_t, h_t = torch_model(weights, mode).encoder(torch.from_numpy(src).long())
    assert_close("encoder outputs", enc_j, mode.np(enc_t), mode.tol)
    assert_close("encoder states", h_j, mode.np(h_t), mode.tol)
    assert (np.asarray(enc_j)[src == PAD] == 0).all()


def previous_weights(case, mode, mask: np.ndarray, seed: int):
    """Random previous attention weights [B, S] over the real positions (location attention;
    None for bahdanau): numpy, in the mode's dtype."""
    if case.cfg.attention != "location":
        return None
    a = np.random.default_rng(seed).random(mask.shape) * mask
    return (a / np.maximum(a.sum(axis=1, keepdims=True), 1e-9)).astype(mode.dtype)


def as_torch(x):
    return None if x is None else torch.from_numpy(x)


def test_attention_weights_and_context(case, mode):
    cfg = case.cfg
    rng = np.random.default_rng(2)
    enc = rng.normal(size=(len(LENGTHS), 10, cfg.hidden_dim)).astype(mode.dtype)
    query = rng.normal(size=(len(LENGTHS), cfg.hidden_dim)).astype(mode.dtype)
    mask = ragged_batch().src != PAD
    mask[2] = False  # a fully masked row: finite in both
    a_prev = previous_weights(case, mode, mask, seed=4)
    p = jax_params(case.weights, mode, cfg)["decoder"]["attention"]

    def jax_attend(p, enc, mask, query, a_prev):
        return attention.attend(p, attention.project_keys(p, enc), enc, mask, query, a_prev)

    ctx_j, w_j = mode.jax_fn(jax_attend)(
        p, jnp.asarray(enc), jnp.asarray(mask), jnp.asarray(query), a_prev
    )
    att = torch_model(case.weights, mode, cfg).decoder.attention
    with torch.no_grad():
        e, q, m = torch.from_numpy(enc), torch.from_numpy(query), torch.from_numpy(mask)
        ctx_t, w_t = att.attend(att.project_keys(e), e, m, q, as_torch(a_prev))
    assert_close("attention weights", w_j, mode.np(w_t), mode.tol)
    assert_close("context", ctx_j, mode.np(ctx_t), mode.tol)
    assert np.isfinite(np.asarray(ctx_j)).all()


def test_one_decoder_step(case, mode):
    cfg = case.cfg
    b = ragged_batch()
    rng = np.random.default_rng(3)
    h = rng.normal(size=(cfg.num_layers, len(LENGTHS), cfg.hidden_dim)).astype(mode.dtype)
    y = b.tgt_in[:, 2]  # includes PAD for the shortest row
    a_prev = previous_weights(case, mode, b.src != PAD, seed=5)

    def jax_step(params, src, h, y, a_prev):
        enc, _ = model.encode(params, cfg, src)
        memory = model.prepare_memory(params, cfg, enc, src != PAD)
        return model.decoder_step(params, cfg, h, y, memory, a_prev=a_prev)

    h_j, logits_j, w_j = mode.jax_fn(jax_step)(
        jax_params(case.weights, mode, cfg),
        jnp.asarray(b.src),
        jnp.asarray(h),
        jnp.asarray(y),
        a_prev,
    )
    m = torch_model(case.weights, mode, cfg)
    with torch.no_grad():
        src = torch.from_numpy(b.src).long()
        enc, _ = m.encoder(src)
        keys = m.decoder.attention.project_keys(enc)
        h_t, logits_t, w_t = m.decoder(
            torch.from_numpy(h),
            torch.from_numpy(y).long(),
            keys,
            enc,
            src != PAD,
            a_prev=as_torch(a_prev),
        )
    assert_close("decoder states", h_j, mode.np(h_t), mode.tol)
    assert_close("decoder logits", logits_j, mode.np(logits_t), mode.tol)
    assert_close("decoder attention", w_j, mode.np(w_t), mode.tol)
