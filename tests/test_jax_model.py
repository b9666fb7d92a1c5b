"""JAX GRU, attention and model: shapes, the PyTorch gate formula, masking, padding invariance."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import ragged_src, random_params

from revseq.errors import RevseqError
from revseq.task.config import Config
from revseq.task.vocab import PAD
from revseq_jax import attention, gru, model
from revseq_jax.decode import EXTRA_STEPS, decode_and_score, greedy_decode
from revseq_jax.losses import masked_cross_entropy


def np_gru_cell(x, h, w_ih, w_hh, b_ih, b_hh):
    """PyTorch's documented GRU equations, in numpy."""
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    H = h.shape[-1]
    gi, gh = x @ w_ih.T + b_ih, h @ w_hh.T + b_hh
    r = sig(gi[:, :H] + gh[:, :H])
    z = sig(gi[:, H : 2 * H] + gh[:, H : 2 * H])
    n = np.tanh(gi[:, 2 * H :] + r * gh[:, 2 * H :])
    return (1 - z) * n + z * h


@pytest.fixture
def params(small_cfg):
    return random_params(small_cfg, 0)


def test_gru_matches_the_pytorch_formula_and_carries_state_over_padding(params):
    p = params["encoder"]["gru"]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5, 6)).astype(np.float32)
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [0, 0, 0, 0, 0]], bool)
    out, h = gru.gru(p, jnp.asarray(x), jnp.asarray(mask))
    assert out.shape == (3, 5, 8) and h.shape == (2, 3, 8)
    w = {k: np.asarray(v) for k, v in p.items()}
    hs = [np.zeros((3, 8), np.float32) for _ in range(2)]
    for t in range(5):
        inp = x[:, t]
        for k in range(2):
            new = np_gru_cell(
                inp,
                hs[k],
                w[f"weight_ih_l{k}"],
                w[f"weight_hh_l{k}"],
                w[f"bias_ih_l{k}"],
                w[f"bias_hh_l{k}"],
            )
            hs[k] = np.where(mask[:, t, None], new, hs[k])
            inp = hs[k]
    np.testing.assert_allclose(np.asarray(h), np.stack(hs), atol=1e-5)
    assert (np.asarray(out)[1, 3:] == 0).all()
    assert (np.asarray(h)[:, 2] == 0).all()  # a fully padded row keeps its initial state


def test_attention_masks_pad_and_a_fully_masked_row_stays_finite(params):
    p = params["decoder"]["attention"]
    rng = np.random.default_rng(1)
    enc = jnp.asarray(rng.normal(size=(3, 4, 8)).astype(np.float32))
    mask = jnp.asarray([[1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 0, 0]], bool)
    query = jnp.asarray(rng.normal(size=(3, 8)).astype(np.float32))
    ctx, w = attention.attend(p, attention.project_keys(p, enc), enc, mask, query)
    assert ctx.shape == (3, 8) and w.shape == (3, 4)
    np.testing.assert_allclose(np.asarray(w).sum(-1), 1.0, rtol=1e-6)
    assert (np.asarray(w)[1, 2:] == 0).all()
    assert np.isfinite(np.asarray(ctx)).all() and np.isfinite(np.asarray(w)).all()
    np.testing.assert_allclose(np.asarray(ctx)[0], np.asarray(w)[0] @ np.asarray(enc)[0], atol=1e-6)


def test_forward_shapes_and_forcing(params, small_cfg):
    src = jnp.asarray(ragged_src([3, 5]))
    tgt_in = jnp.asarray(ragged_src([3, 5], seed=1))
    all_forced = jnp.ones(tgt_in.shape, bool)
    logits, w = model.forward(params, small_cfg, src, tgt_in, all_forced)
    assert logits.shape == (2, 6, 12) and w.shape == (2, 6, 6)
    # With every step free-running, the targets fed in cannot matter after step 0.
    free = jnp.zeros(tgt_in.shape, bool)
    a, _ = model.forward(params, small_cfg, src, tgt_in, free)
    b, _ = model.forward(params, small_cfg, src, tgt_in.at[:, 1:].set(5), free)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    c, _ = model.forward(params, small_cfg, src, tgt_in.at[:, 1:].set(5), all_forced)
    assert not np.allclose(np.asarray(a), np.asarray(c))


def test_pad_embedding_row_gets_no_gradient(params, small_cfg):
    src = jnp.asarray(ragged_src([2, 4]))

    def loss(p):
        logits, _ = model.forward(p, small_cfg, src, src, jnp.zeros(src.shape, bool))
        return logits.sum()

    g = jax.grad(loss)(params)
    assert (np.asarray(g["encoder"]["embedding"]["weight"])[PAD] == 0).all()
    assert (np.asarray(g["decoder"]["embedding"]["weight"])[PAD] == 0).all()


def test_a_sentence_decodes_the_same_alone_in_a_batch_and_with_extra_padding(params, small_cfg):
    lengths = [3, 9, 1, 6]
    batch = ragged_src(lengths, width=10)
    tokens, w = map(np.asarray, greedy_decode(params, small_cfg, jnp.asarray(batch)))
    assert tokens.shape == (4, 10 + EXTRA_STEPS) and w.shape == (4, 10 + EXTRA_STEPS, 10)
    for i, n in enumerate(lengths):
        alone = batch[i : i + 1, : n + 1]
        for width in (n + 1, n + 12):
            padded = np.full((1, width), PAD, np.int32)
            padded[0, : n + 1] = alone[0]
            t1, w1 = map(np.asarray, greedy_decode(params, small_cfg, jnp.asarray(padded)))
            steps = n + 1 + EXTRA_STEPS
            np.testing.assert_array_equal(t1[0, :steps], tokens[i, :steps])
            assert (t1[0, steps:] == PAD).all() and (tokens[i, steps:] == PAD).all()
            np.testing.assert_allclose(w1[0, :steps, : n + 1], w[i, :steps, : n + 1], atol=1e-6)
            assert (w1[0, :, n + 1 :] == 0).all()


def plain_forward(params, cfg, src, tgt_in, force, masks):
    """model.forward written as a lax.scan of model.decoder_step, left to autodiff."""
    enc, h = model.encode(params, cfg, src)
    memory = model.prepare_memory(params, cfg, enc, src != PAD)

    def step(carry, xs):
        h, pred, a = carry
        tok, forced, drop = xs
        y = jnp.where(forced, tok, pred)
        h, logits, weights = model.decoder_step(params, cfg, h, y, memory, drop, a_prev=a)
        a = None if a is None else weights
        return (h, jnp.argmax(logits, axis=-1).astype(tok.dtype), a), (logits, weights)

    xs = (tgt_in.T, force.T, masks)
    start = (model.decoder_start(params, cfg, h), tgt_in[:, 0], memory.prior)
    _, (logits, weights) = jax.lax.scan(step, start, xs)
    return logits.swapaxes(0, 1), weights.swapaxes(0, 1)


def custom_vjp_forward(params, cfg, src, tgt_in, force, masks):
    """model.forward as a run uses it: the loop is decoder.loop, with its hand-written VJP."""
    enc, h = model.encode(params, cfg, src)
    memory = model.prepare_memory(params, cfg, enc, src != PAD)
    h = model.decoder_start(params, cfg, h)
    return model.decoder_loop(params, cfg, memory, h, tgt_in, force, masks)


def max_difference(a, b) -> float:
    return float(np.abs(np.asarray(a) - np.asarray(b)).max())


# (attention settings, layers, dropout): the notebook's attention on 1-3 layers with and without
# dropout, and location attention with each first-step prior and decoder start (the loop is
# the same for every layer count, so one each).
LOCATION = dict(attention="location")
CASES = {
    **{
        f"bahdanau-{L}-layers-{'dropout' if p else 'no-dropout'}": ({}, L, p)
        for L in (1, 2, 3)
        for p in (0.0, 0.3)
    },
    "location-eos-zeros-start": (
        LOCATION | dict(attention_prior="eos", decoder_init="zeros"),
        1,
        0.0,
    ),
    "location-uniform-learned-start": (
        LOCATION | dict(attention_prior="uniform", decoder_init="learned"),
        2,
        0.3,
    ),
    "location-zeros-width-3": (
        LOCATION | dict(attention_prior="zeros", location_filters=2, location_width=3),
        1,
        0.3,
    ),
}


# The first tier checks one case of each attention; CI's second tier one more of each (three
# layers, the `long` preset's prior and first state); the slow tier the rest.
FIRST_TIER = ("bahdanau-2-layers-dropout", "location-uniform-learned-start")
SLOW = (
    "bahdanau-1-layers-dropout",
    "bahdanau-1-layers-no-dropout",
    "bahdanau-2-layers-no-dropout",
    "bahdanau-3-layers-no-dropout",
    "location-zeros-width-3",
)


@pytest.mark.float64
@pytest.mark.parametrize(
    "case",
    [
        c
        if c in FIRST_TIER
        else pytest.param(c, marks=pytest.mark.slow if c in SLOW else pytest.mark.integration)
        for c in CASES
    ],
)
def test_hand_written_decoder_backward_equals_autodiff_of_the_plain_loop(small_cfg, case):
    """decoder.loop (custom VJP) against the same loop as a plain scan of decoder_step under
    autodiff, in float64: the same values and gradients, with the same dropout masks. The
    encoder's dropout is off on both sides (it is not part of the loop)."""
    settings, num_layers, dropout = CASES[case]
    cfg = dataclasses.replace(small_cfg, dropout=dropout, num_layers=num_layers, **settings)
    with jax.enable_x64(True):
        p = jax.tree_util.tree_map(lambda x: x.astype(jnp.float64), random_params(cfg, 0))
        assert jax.tree_util.tree_leaves(p)[0].dtype == jnp.float64
        src = jnp.asarray(ragged_src([3, 6, 1], width=8))
        tgt = jnp.asarray(ragged_src([3, 6, 1], width=8, seed=2))
        force = jnp.asarray(np.random.default_rng(0).random(src.shape) < 0.5)
        masks = model.dropout_masks(jax.random.key(1), cfg, *src.shape) if dropout else None
        if dropout:
            assert float((masks.emb == 0).mean()) > 0.1  # the masks do drop
            if num_layers > 1:
                assert float((masks.layers == 0).mean()) > 0.1

        def loss(forward_fn, p):
            logits, w = forward_fn(p, cfg, src, tgt, force, masks)
            return (logits**2).mean() + (w * jnp.arange(8)[None, None, :]).sum()

        fast = custom_vjp_forward(p, cfg, src, tgt, force, masks)
        plain = plain_forward(p, cfg, src, tgt, force, masks)
        # jitted: op by op, the scans take seconds a case (the numbers are the same)
        g_fast = jax.jit(jax.grad(lambda p: loss(custom_vjp_forward, p)))(p)
        g_plain = jax.jit(jax.grad(lambda p: loss(plain_forward, p)))(p)
    for name, a, b in [("logits", fast[0], plain[0]), ("attention", fast[1], plain[1])]:
        diff = max_difference(a, b)
        assert diff < 1e-12, f"{case}: {name} differs by {diff:.3g}"
    paths = jax.tree_util.tree_leaves_with_path(g_fast)
    for (path, a), b in zip(paths, jax.tree_util.tree_leaves(g_plain), strict=True):
        assert a.dtype == b.dtype == jnp.float64
        diff = max_difference(a, b)
        name = jax.tree_util.keystr(path)
        assert diff < 1e-10, f"{case}: grad {name} differs by {diff:.3g}"
    if settings:  # the location term's adjoint is exercised, not zero on both sides
        att = g_fast["decoder"]["attention"]
        assert min(float(np.abs(np.asarray(att[k]["weight"])).max()) for k in ("F", "U")) > 1e-6


def test_forward_mode_through_forward_raises(params, small_cfg):
    """The decoder loop is a jax.custom_vjp: reverse mode only, so jax.jvp of forward() is a
    TypeError (jax.grad and jax.vjp are what training uses)."""
    src = jnp.asarray(ragged_src([3, 6, 1], width=8))
    tgt = jnp.asarray(ragged_src([3, 6, 1], width=8, seed=2))
    force = jnp.ones(src.shape, bool)
    loss = lambda p: model.forward(p, small_cfg, src, tgt, force)[0].sum()  # noqa: E731
    tangent = jax.tree_util.tree_map(jnp.ones_like, params)
    with pytest.raises(TypeError, match="forward-mode"):
        jax.jvp(loss, (params,), (tangent,))
    jax.vjp(loss, params)  # reverse mode is fine


def test_decode_and_score_counts_tokens_and_exact_rows(params, small_cfg):
    """Validation is the greedy pass scored: the free-running loss of the first S steps, and
    a row is exact when the greedy tokens equal its reference (PAD after EOS ignored)."""
    src = jnp.asarray(ragged_src([3, 5, 2], width=7))
    tgt_out = ragged_src([3, 5, 2], width=7, seed=4)
    tokens, attention, sums = decode_and_score(params, small_cfg, src, jnp.asarray(tgt_out))
    assert int(sums["count"]) == 3 + 5 + 2 + 3
    # The alignment sums: word steps run, and those peaking on the mirrored source word.
    steps, aligned = 0, 0
    for a, n in zip(np.asarray(attention), [3, 5, 2], strict=True):
        ran = int((a.sum(-1) > 0).sum())
        steps += min(n, ran)
        aligned += sum(int(np.argmax(a[t])) == n - 1 - t for t in range(min(n, ran)))
    assert (int(sums["word_steps"]), int(sums["aligned"])) == (steps, aligned) and steps > 0
    free = jnp.zeros(src.shape, bool)
    tgt_in = jnp.full(src.shape, PAD, src.dtype).at[:, 0].set(1)
    logits, _ = model.forward(params, small_cfg, src, tgt_in, free)
    loss, count = masked_cross_entropy(logits, jnp.asarray(tgt_out))
    np.testing.assert_allclose(float(sums["loss_sum"]), float(loss * count), rtol=1e-6)
    # Make row 0's reference the greedy output itself: that row alone matches exactly.
    tokens = np.asarray(tokens)
    mine = tgt_out.copy()
    mine[0] = tokens[0, :7]
    mine[1, :6] = (tokens[1, :6] + 1) % small_cfg.vocab_size
    assert (mine[0] != PAD).any()
    _, _, sums = decode_and_score(params, small_cfg, src, jnp.asarray(mine))
    assert int(sums["exact"]) == 1


@pytest.mark.integration
def test_scan_unroll_changes_the_compiled_loop_not_the_numbers(params, small_cfg):
    src = jnp.asarray(ragged_src([3, 6, 1], width=8))
    tgt = jnp.asarray(ragged_src([3, 6, 1], width=8, seed=2))
    force = jnp.asarray(np.random.default_rng(0).random(src.shape) < 0.5)

    def run(unroll: int):  # the setting is a static field of the config: its own trace
        cfg = dataclasses.replace(small_cfg, scan_unroll=unroll)
        loss = lambda p: model.forward(p, cfg, src, tgt, force)[0].sum()  # noqa: E731
        return jax.jit(jax.value_and_grad(loss))(params)

    base = run(1)
    for a, b in zip(
        jax.tree_util.tree_leaves(run(3)), jax.tree_util.tree_leaves(base), strict=True
    ):
        np.testing.assert_allclose(a, b, atol=1e-5)
    with pytest.raises(RevseqError, match="scan_unroll must be at least 1"):
        Config().replace(scan_unroll=0)
