"""flax.linen's GRU as a third, independent implementation: the weight mapping, written once.

flax.linen.GRUCell (flax/linen/recurrent.py) computes, with Dense kernels stored [in, out]:

    r  = sigmoid(ir(x) + hr(h))           ir has a bias, hr has none
    z  = sigmoid(iz(x) + hz(h))           iz has a bias, hz has none
    n  = tanh(in(x) + r * hn(h))          in and hn both have a bias
    h' = (1 - z) * n + z * h

PyTorch's gate form (revseq_jax.gru, revseq_torch.gru) is the same with a bias on every one of
the six products: r = sigmoid(W_ir x + b_ir + W_hr h + b_hr), likewise z, and
n = tanh(W_in x + b_in + r * (W_hn h + b_hn)). Inside r and z the two biases are only ever
summed, so b_ir + b_hr as ir's bias (and b_iz + b_hz as iz's) is the same function: only the
order of the floating-point additions differs (rounding far below the suite's tolerances). b_hn
is multiplied by r, so it cannot be folded; flax gives hn a bias for exactly that reason.
"""

from __future__ import annotations

import numpy as np


def to_flax_gru_params(weight_ih, weight_hh, bias_ih, bias_hh) -> dict:
    """One layer's PyTorch-layout GRU weights (weight_ih [3H, in], weight_hh [3H, H], bias_ih
    and bias_hh [3H], gates stacked r|z|n) -> flax.linen.GRUCell's params."""
    weight_ih, weight_hh = np.asarray(weight_ih), np.asarray(weight_hh)
    bias_ih, bias_hh = np.asarray(bias_ih), np.asarray(bias_hh)
    H = weight_hh.shape[1]
    assert weight_hh.shape == (3 * H, H), weight_hh.shape
    assert weight_ih.shape[0] == 3 * H and bias_ih.shape == bias_hh.shape == (3 * H,)
    W_ir, W_iz, W_in = np.split(weight_ih, 3)
    W_hr, W_hz, W_hn = np.split(weight_hh, 3)
    b_ir, b_iz, b_in = np.split(bias_ih, 3)
    b_hr, b_hz, b_hn = np.split(bias_hh, 3)
    return {
        "ir": {"kernel": W_ir.T, "bias": b_ir + b_hr},  # folded: see the module docstring
        "iz": {"kernel": W_iz.T, "bias": b_iz + b_hz},
        "in": {"kernel": W_in.T, "bias": b_in},
        "hr": {"kernel": W_hr.T},
        "hz": {"kernel": W_hz.T},
        "hn": {"kernel": W_hn.T, "bias": b_hn},
    }


def layer_params(arrays: dict, prefix: str, k: int) -> dict:
    """flax GRUCell params of layer k of the GRU whose state_dict names start with prefix."""
    return to_flax_gru_params(
        *(arrays[f"{prefix}{n}_l{k}"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
    )
