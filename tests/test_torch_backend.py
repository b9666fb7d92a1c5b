"""PyTorch backend on its own: layout, GRU vs nn.GRU, masking, padding invariance, hand Adam."""

import numpy as np
import pytest
import torch
from helpers import ragged_src
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from revseq.task.batching import Batch
from revseq.task.config import Config, ModelConfig, TrainConfig
from revseq.task.layout import param_shapes
from revseq.task.vocab import EOS, PAD, SOS
from revseq_torch import gru, model, optim, train
from revseq_torch.attention import BahdanauAttention
from revseq_torch.backend import Backend
from revseq_torch.decode import EXTRA_STEPS, decode_and_score, greedy_decode
from revseq_torch.losses import masked_cross_entropy


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These tensors are tiny: on a busy 2-core machine a second intra-op thread only waits."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def net(small_cfg):
    return model.init_params(small_cfg, 0)


def t(x):
    return torch.from_numpy(np.asarray(x))


def test_state_dict_is_the_shared_layout_in_order(net, small_cfg):
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert list(shapes.items()) == list(param_shapes(small_cfg).items())
    assert (net.encoder.embedding.weight[PAD] == 0).all()
    assert (net.decoder.embedding.weight[PAD] == 0).all()


def test_init_is_seeded_and_leaves_the_global_generator_alone(small_cfg):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a, b = model.init_params(small_cfg, 7), model.init_params(small_cfg, 7)
    np.testing.assert_array_equal(torch.rand(3), expected)
    for (k, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y), k
    assert not torch.equal(model.init_params(small_cfg, 8).decoder.fc.weight, a.decoder.fc.weight)


def test_gru_equals_nn_gru_and_carries_state_over_padding():
    torch.manual_seed(0)
    ref = nn.GRU(6, 8, num_layers=2, batch_first=True).double()
    torch.manual_seed(0)
    ours = gru.GRU(6, 8, num_layers=2).double()
    # Same names, same draws: the init is nn.GRU's.
    for (k, x), (k2, y) in zip(ref.state_dict().items(), ours.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(x, y), k
    x = torch.randn(3, 5, 6, dtype=torch.float64)
    lengths = torch.tensor([5, 3, 1])
    mask = torch.arange(5)[None, :] < lengths[:, None]
    out, h = ours(x, mask)
    assert out.shape == (3, 5, 8) and h.shape == (2, 3, 8)
    ref_out, _ = ref(x)
    torch.testing.assert_close(out[0], ref_out[0], rtol=0, atol=1e-12)  # an unpadded row
    _, ref_h = ref(pack_padded_sequence(x, lengths, batch_first=True))
    torch.testing.assert_close(h, ref_h, rtol=0, atol=1e-12)
    assert (out[1, 3:] == 0).all() and (out[2, 1:] == 0).all()
    h0 = torch.randn(2, 3, 8, dtype=torch.float64)
    _, h_none = ours(x, torch.zeros(3, 5, dtype=torch.bool), h0)
    assert torch.equal(h_none, h0)  # a fully padded row keeps its initial state


def test_gru_step_is_one_step_of_the_sequence():
    torch.manual_seed(1)
    g = gru.GRU(4, 5, num_layers=2)
    x = torch.randn(2, 1, 4)
    out, h = g(x, torch.ones(2, 1, dtype=torch.bool))
    h1 = g.step(x[:, 0], torch.zeros(2, 2, 5))
    torch.testing.assert_close(h1, h, rtol=0, atol=1e-6)
    torch.testing.assert_close(out[:, 0], h1[-1], rtol=0, atol=1e-6)


def test_attention_masks_pad_and_a_fully_masked_row_stays_finite():
    torch.manual_seed(2)
    att = BahdanauAttention(8)
    enc = torch.randn(3, 4, 8)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 0, 0]], dtype=torch.bool)
    query = torch.randn(3, 8)
    with torch.no_grad():
        ctx, w = att.attend(att.project_keys(enc), enc, mask, query)
    assert ctx.shape == (3, 8) and w.shape == (3, 4)
    torch.testing.assert_close(w.sum(-1), torch.ones(3), rtol=1e-6, atol=0)
    assert (w[1, 2:] == 0).all()
    assert torch.isfinite(ctx).all() and torch.isfinite(w).all()
    torch.testing.assert_close(w[2], torch.full((4,), 0.25))  # uniform, not NaN
    torch.testing.assert_close(ctx[0], w[0] @ enc[0], rtol=0, atol=1e-6)


def test_forward_shapes_and_forcing(net):
    src = t(ragged_src([3, 5]))
    tgt_in = t(ragged_src([3, 5], seed=1))
    all_forced = torch.ones(tgt_in.shape, dtype=torch.bool)
    free = torch.zeros(tgt_in.shape, dtype=torch.bool)
    with torch.no_grad():
        logits, w = net(src, tgt_in, all_forced)
        assert logits.shape == (2, 6, 12) and w.shape == (2, 6, 6)
        # Free-running, the targets fed in cannot matter after step 0.
        changed = tgt_in.clone()
        changed[:, 1:] = 5
        a, _ = net(src, tgt_in, free)
        b, _ = net(src, changed, free)
        c, _ = net(src, changed, all_forced)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_float64_throughout(net):
    net = net.double()
    src = t(ragged_src([2, 4]))
    with torch.no_grad():
        logits, w = net(src, src, torch.zeros(src.shape, dtype=torch.bool))
    assert logits.dtype == w.dtype == torch.float64
    tokens, attn = greedy_decode(net, src)
    assert tokens.dtype == src.dtype and attn.dtype == torch.float64


def test_pad_embedding_row_gets_no_gradient_and_its_content_is_ignored(net):
    src = t(ragged_src([2, 4]))
    force = torch.zeros(src.shape, dtype=torch.bool)
    logits, _ = net(src, src, force)
    logits.sum().backward()
    assert (net.encoder.embedding.weight.grad[PAD] == 0).all()
    assert (net.decoder.embedding.weight.grad[PAD] == 0).all()
    with torch.no_grad():
        net.encoder.embedding.weight[PAD] = 1.0  # as a foreign checkpoint might hold
        net.decoder.embedding.weight[PAD] = 1.0
        again, _ = net(src, src, force)
    assert torch.equal(again, logits.detach())


def test_a_sentence_decodes_the_same_alone_in_a_batch_and_with_extra_padding(net):
    lengths = [3, 9, 1, 6]
    batch = ragged_src(lengths, width=10)
    tokens, w = greedy_decode(net, t(batch))
    assert tokens.shape == (4, 10 + EXTRA_STEPS) and w.shape == (4, 10 + EXTRA_STEPS, 10)
    assert net.training  # decoding does not leave the model in eval mode
    for i, n in enumerate(lengths):
        steps = n + 1 + EXTRA_STEPS
        assert (tokens[i, steps:] == PAD).all()
        for width in (n + 1, n + 12):
            padded = np.full((1, width), PAD, np.int32)
            padded[0, : n + 1] = batch[i, : n + 1]
            t1, w1 = greedy_decode(net, t(padded))
            assert torch.equal(t1[0, :steps], tokens[i, :steps])
            assert (t1[0, steps:] == PAD).all()
            torch.testing.assert_close(
                w1[0, :steps, : n + 1], w[i, :steps, : n + 1], atol=1e-6, rtol=0
            )
            assert (w1[0, :, n + 1 :] == 0).all()


def test_decode_stops_after_eos():
    cfg = ModelConfig(vocab_size=6, embed_dim=2, hidden_dim=3, num_layers=1, dropout=0.0)
    net = model.init_params(cfg, 0)
    with torch.no_grad():  # fc always prefers EOS: step 0 emits it, nothing after
        net.decoder.fc.weight.zero_()
        net.decoder.fc.bias.copy_(torch.tensor([0.0, 0.0, 5.0, 0.0, 0.0, 0.0]))
    tokens, w = greedy_decode(net, t(ragged_src([2, 3], vocab_size=6)))
    assert (tokens[:, 0] == EOS).all() and (tokens[:, 1:] == PAD).all()
    assert (w[:, 1:] == 0).all() and (w[:, 0].sum(-1) > 0.99).all()


def test_loss_is_the_mean_nll_of_non_pad_targets_and_ignores_pad_logits():
    torch.manual_seed(3)
    logits = torch.randn(2, 4, 7)
    targets = torch.tensor([[4, 5, 2, PAD], [6, 2, PAD, PAD]], dtype=torch.int32)
    loss, count = masked_cross_entropy(logits, targets)
    ref = nn.functional.cross_entropy(
        logits.reshape(-1, 7), targets.reshape(-1).long(), ignore_index=PAD
    )
    assert int(count) == 5
    torch.testing.assert_close(loss, ref)
    changed = logits.clone()
    changed[targets == PAD] = 100.0
    assert torch.equal(masked_cross_entropy(changed, targets)[0], loss)


def test_all_pad_batch_gives_zero_loss_not_nan():
    loss, count = masked_cross_entropy(torch.zeros(2, 3, 5), torch.zeros(2, 3, dtype=torch.int32))
    assert float(loss) == 0.0 and int(count) == 0


@pytest.mark.parametrize("norm", [0.5, 1.0, 3.0])
def test_clip_scales_by_max_norm_over_norm_plus_eps_only_when_below_one(norm):
    a = torch.zeros(1, requires_grad=True)
    b = torch.zeros(1, 1, requires_grad=True)
    a.grad, b.grad = torch.tensor([norm * 0.6]), torch.tensor([[norm * 0.8]])  # global norm
    before = optim.clip_grad_norm_([a, b], 1.0)
    coef = min(1.0 / (norm + 1e-6), 1.0)
    assert float(before) == pytest.approx(norm, rel=1e-6)
    assert float(a.grad) == pytest.approx(norm * 0.6 * coef, rel=1e-6)
    assert float(b.grad) == pytest.approx(norm * 0.8 * coef, rel=1e-6)


def test_cosine_schedule_and_adams_bias_corrected_step():
    schedule = optim.cosine_decay_schedule(3e-3, 100)
    for count, lr in [
        (0, 3e-3),
        (50, 1.5e-3),
        (100, 0.0),
        (150, 0.0),
        (25, 3e-3 * 0.5 * (1 + 0.5**0.5)),
    ]:
        assert schedule(count) == pytest.approx(lr, rel=1e-12, abs=1e-18)
    run = TrainConfig(epochs=2, lr=3e-3, lr_schedule="cosine")
    for count in (0, 25, 100):
        assert train.learning_rate(run, steps_per_epoch=50)(count) == schedule(count)
    assert train.learning_rate(TrainConfig(lr=3e-3, lr_schedule="constant"), 50)(99) == 3e-3
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    adam = optim.Adam([p], eps=0.0)
    moves = []
    for lr in (1.0, 0.5, 0.0):
        adam.param_groups[0]["lr"] = lr
        p.grad = torch.ones(1, dtype=torch.float64)
        before = p.item()
        adam.step()
        moves.append(before - p.item())
    # A constant gradient makes each bias-corrected step exactly 1, times the rate.
    assert moves == pytest.approx([1.0, 0.5, 0.0], abs=1e-12)
    assert adam.state[p]["step"] == 3


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 2e-6)])
def test_clip_plus_adam_equals_torch_optim_for_20_steps_of_real_training(small_cfg, dtype, tol):
    """Record 20 real training steps' gradients, then feed the same sequence to both."""
    src = t(ragged_src([3, 5, 7, 2]))
    tgt = t(ragged_src([3, 5, 7, 2], seed=1))
    force = t(np.random.default_rng(0).random(src.shape) < 0.5)
    net = model.init_params(small_cfg, 3).to(dtype)
    start = {k: v.clone() for k, v in net.state_dict().items()}
    ours = optim.Adam(net.parameters(), lr=1e-2, betas=(0.9, 0.999), eps=1e-8)
    grads, norms = [], []
    for _ in range(20):
        ours.zero_grad()
        logits, _ = net(src, tgt, force)
        masked_cross_entropy(logits, tgt)[0].backward()
        grads.append([p.grad.clone() for p in net.parameters()])
        norms.append(float(optim.clip_grad_norm_(net.parameters(), 0.3)))
        ours.step()
    assert min(norms) < 0.3 < max(norms), "the sequence must exercise both sides of the clip"

    ref_net = model.init_params(small_cfg, 3).to(dtype)
    ref_net.load_state_dict(start)
    params = list(ref_net.parameters())
    ref = torch.optim.Adam(params, lr=1e-2, betas=(0.9, 0.999), eps=1e-8, foreach=False)
    for g in grads:
        for p, gi in zip(params, g, strict=True):
            p.grad = gi.clone()
        torch.nn.utils.clip_grad_norm_(params, 0.3, foreach=False)
        ref.step()
    diffs = {
        k: float((v - ref_net.state_dict()[k]).abs().max()) for k, v in net.state_dict().items()
    }
    name = max(diffs, key=diffs.get)
    assert diffs[name] < tol, f"{name}: max abs diff {diffs[name]:.3g}"


def toy_batch(force_p=0.5, seed=0):
    src = ragged_src([3, 5, 2], seed=seed)
    tgt_out = ragged_src([3, 5, 2], seed=seed + 1)
    tgt_in = np.concatenate([np.full((3, 1), SOS, np.int32), tgt_out[:, :-1]], axis=1)
    tgt_in[tgt_out == PAD] = PAD
    force = np.random.default_rng(seed).random(src.shape) < force_p
    return Batch(src, tgt_in, tgt_out, force)


def test_decode_and_score_counts_tokens_and_exact_rows(net):
    batch = toy_batch()
    m = decode_and_score(net, t(batch.src), t(batch.tgt_out))[2]
    with torch.no_grad():
        free = torch.zeros(batch.force.shape, dtype=torch.bool)
        logits, _ = net(t(batch.src), t(batch.tgt_in), free)
    loss, count = masked_cross_entropy(logits, t(batch.tgt_out))
    assert int(m["count"]) == int(count) == 3 + 5 + 2 + 3
    torch.testing.assert_close(m["loss_sum"], loss * count)
    # Make the reference of row 0 what the model predicts: that row alone matches exactly.
    pred = logits.argmax(-1).numpy().astype(np.int32)
    tgt_out = batch.tgt_out.copy()
    tgt_out[0, :4] = pred[0, :4]
    tgt_out[1, :6] = (pred[1, :6] + 1) % 12
    assert int(decode_and_score(net, t(batch.src), t(tgt_out))[2]["exact"]) == 1


def test_backend_trains_round_trips_and_decodes(tmp_path):
    cfg = Config(
        model=ModelConfig(vocab_size=12, embed_dim=6, hidden_dim=8, num_layers=2, dropout=0.1),
        train=TrainConfig(epochs=2, lr=1e-2, lr_schedule="cosine", seed=5),
    )
    backend = Backend(cfg, steps_per_epoch=3)
    batches = [toy_batch(seed=s) for s in range(3)]
    state = backend.init()
    before = backend.evaluate(state, batches)
    state, _ = backend.train_epoch(state, batches)
    saved = backend.snapshot(state)
    state, m = backend.train_epoch(state, batches)
    assert m["count"] == 3 * 13 and (m["updates"], m["nonfinite"], m["batches"]) == (3, 0, 3)
    assert set(m) == {"loss_sum", "count", "grad_norm", "updates", "nonfinite", "batches"}
    # A state saved after epoch 1 and restored by a new backend goes on exactly as this one.
    other = Backend(cfg, steps_per_epoch=3)
    resumed, m2 = other.train_epoch(other.restore(saved), batches)
    assert m2 == m
    for k, v in other.snapshot(resumed).items():
        np.testing.assert_array_equal(v, backend.snapshot(state)[k], err_msg=k)
    after = backend.evaluate(state, batches)
    assert set(after) == {"loss_sum", "count", "exact", "aligned", "word_steps"}
    assert after["loss_sum"] < before["loss_sum"]
    assert state.step == 6 and all(s["step"] == 6 for s in state.optimizer.state.values())
    assert state.optimizer.param_groups[0]["lr"] == backend.schedule(5) > 0 == backend.schedule(6)

    arrays = backend.to_numpy(backend.params(state))
    assert {k: v.shape for k, v in arrays.items()} == param_shapes(cfg.model)
    assert all(v.dtype == np.float32 for v in arrays.values())
    loaded = backend.from_numpy(arrays)
    assert not loaded.training
    src = batches[1].src
    tokens, attn = backend.decode(loaded, src)
    ref_tokens, ref_attn = backend.decode(backend.params(state), src)
    assert tokens.shape == (3, src.shape[1] + EXTRA_STEPS) and attn.shape == (*tokens.shape, 6)
    np.testing.assert_array_equal(tokens, ref_tokens)
    np.testing.assert_array_equal(attn, ref_attn)
    # The same seed and batches give the same run, dropout included.
    again = Backend(cfg, steps_per_epoch=3)
    state2 = again.init()
    for _ in range(2):
        state2, _ = again.train_epoch(state2, batches)
    for k, v in again.to_numpy(again.params(state2)).items():
        np.testing.assert_array_equal(v, arrays[k], err_msg=k)
    restarted = backend.start(arrays)
    assert restarted.step == 0 and not restarted.optimizer.state
    assert restarted.model.encoder.dropout.p == 0.1


@pytest.mark.parametrize("skip", [False, True])
def test_a_nonfinite_step_changes_nothing_and_halts_the_rest_unless_skipping(skip):
    """As in JAX: word 11's encoder embedding is NaN, only the batch reading it has NaN loss."""
    cfg = Config(
        model=ModelConfig(vocab_size=12, embed_dim=6, hidden_dim=8, num_layers=2, dropout=0.0),
        train=TrainConfig(lr=1e-2, lr_schedule="constant", skip_nonfinite=skip),
    )
    clean = []
    for seed in (0, 1, 3):
        b = toy_batch(seed=seed)
        clean.append(b._replace(src=np.where(b.src == 11, 10, b.src)))
    bad = toy_batch(seed=2)
    bad.src[0, 0] = 11
    backend = Backend(cfg, steps_per_epoch=4)
    arrays = backend.to_numpy(backend.params(backend.init()))
    arrays["encoder.embedding.weight"][11] = np.nan

    state, m = backend.train_epoch(backend.start(arrays), [clean[0], clean[1], bad, clean[2]])
    applied = [clean[0], clean[1], clean[2]] if skip else [clean[0], clean[1]]
    expected, _ = backend.train_epoch(backend.start(arrays), applied)
    assert (m["updates"], m["nonfinite"], m["batches"]) == (len(applied), 1, 4)
    assert state.step == len(applied) and state.nonfinite == 1
    assert np.isfinite(m["loss_sum"]) and np.isfinite(m["grad_norm"])
    for k, v in backend.to_numpy(backend.params(expected)).items():
        np.testing.assert_array_equal(backend.to_numpy(backend.params(state))[k], v, err_msg=k)
