"""The notebook's own model, greedy loop and training epoch, copied as written (defects included).

The parity suite's oracle: it proves that a state_dict saved by the notebook imports into
revseq and decodes to the same tokens, and that each backend's training step is the notebook's
train_epoch. The benchmarks (python -m benchmarks) also time the notebook's own epoch with it.
Comments mark where revseq deliberately differs.
"""

import random

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Encoder(nn.Module):
    def __init__(self, vocab_size, embed_dim, hidden_dim, num_layers=1, dropout=0.1):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.gru = nn.GRU(
            embed_dim,
            hidden_dim,
            num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0,
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        # The notebook runs the GRU over PAD tokens too (revseq carries the state instead).
        embedded = self.dropout(self.embedding(x))
        outputs, hidden = self.gru(embedded)
        return outputs, hidden


class BahdanauAttention(nn.Module):
    def __init__(self, hidden_dim):
        super().__init__()
        self.W_h = nn.Linear(hidden_dim, hidden_dim, bias=False)
        self.W_s = nn.Linear(hidden_dim, hidden_dim, bias=False)
        self.v = nn.Linear(hidden_dim, 1, bias=False)

    def forward(self, decoder_hidden, encoder_outputs, mask=None):
        _batch_size, seq_len, _hidden_dim = encoder_outputs.shape
        decoder_hidden = decoder_hidden.unsqueeze(1).expand(-1, seq_len, -1)
        # W_h is applied at every decoder step (revseq projects the keys once).
        energy = torch.tanh(self.W_h(encoder_outputs) + self.W_s(decoder_hidden))
        scores = self.v(energy).squeeze(-1)
        if mask is not None:
            scores = scores.masked_fill(mask, -1e10)
        attention_weights = F.softmax(scores, dim=1)
        context = torch.bmm(attention_weights.unsqueeze(1), encoder_outputs)
        context = context.squeeze(1)
        return context, attention_weights


class Decoder(nn.Module):
    def __init__(self, vocab_size, embed_dim, hidden_dim, num_layers=1, dropout=0.1):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.attention = BahdanauAttention(hidden_dim)
        self.gru = nn.GRU(
            embed_dim + hidden_dim,
            hidden_dim,
            num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0,
        )
        self.fc = nn.Linear(hidden_dim, vocab_size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, hidden, encoder_outputs, mask=None):
        embedded = self.dropout(self.embedding(x))
        decoder_hidden = hidden[-1]
        context, attention_weights = self.attention(decoder_hidden, encoder_outputs, mask)
        context = context.unsqueeze(1)
        gru_input = torch.cat([embedded, context], dim=2)
        output, hidden = self.gru(gru_input, hidden)
        output = self.fc(output.squeeze(1))
        return output, hidden, attention_weights


class Seq2SeqWithAttention(nn.Module):
    def __init__(self, encoder, decoder):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def forward(self, src, tgt, teacher_forcing_ratio=0.5):
        batch_size = src.shape[0]
        tgt_len = tgt.shape[1]
        vocab_size = self.decoder.vocab_size
        encoder_outputs, hidden = self.encoder(src)
        src_mask = src == 0
        outputs = torch.zeros(batch_size, tgt_len, vocab_size).to(src.device)
        attention_weights_list = []
        decoder_input = tgt[:, 0].unsqueeze(1)
        for t in range(1, tgt_len):
            output, hidden, attention_weights = self.decoder(
                decoder_input, hidden, encoder_outputs, src_mask
            )
            outputs[:, t] = output
            attention_weights_list.append(attention_weights)
            # One coin per step for the whole batch (revseq draws one per token).
            use_teacher_forcing = random.random() < teacher_forcing_ratio
            top1 = output.argmax(1)
            decoder_input = tgt[:, t].unsqueeze(1) if use_teacher_forcing else top1.unsqueeze(1)
        return outputs, attention_weights_list


def collate(pairs):
    """The notebook's collate_fn: (src, tgt) index lists padded to the batch's longest.
    tgt starts with SOS."""
    src_batch, tgt_batch = zip(*pairs, strict=True)
    src_padded = torch.zeros(len(src_batch), max(map(len, src_batch)), dtype=torch.long)
    tgt_padded = torch.zeros(len(tgt_batch), max(map(len, tgt_batch)), dtype=torch.long)
    for i, (src, tgt) in enumerate(zip(src_batch, tgt_batch, strict=True)):
        src_padded[i, : len(src)] = torch.LongTensor(src)
        tgt_padded[i, : len(tgt)] = torch.LongTensor(tgt)
    return src_padded, tgt_padded


class AdamOptimizer:
    # As written, but for the notebook's "self.betal" typo, which would stop it at step 1.
    def __init__(self, params, lr=0.001, betas=(0.9, 0.999), eps=1e-8):
        self.params = list(params)
        self.lr = lr
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.t = 0
        self.m = [torch.zeros_like(p.data) for p in self.params]
        self.v = [torch.zeros_like(p.data) for p in self.params]

    def step(self):
        self.t += 1
        for i, param in enumerate(self.params):
            if param.grad is None:
                continue
            grad = param.grad.data
            self.m[i] = self.beta1 * self.m[i] + (1 - self.beta1) * grad
            self.v[i] = self.beta2 * self.v[i] + (1 - self.beta2) * (grad**2)
            m_hat = self.m[i] / (1 - self.beta1**self.t)
            v_hat = self.v[i] / (1 - self.beta2**self.t)
            param.data -= self.lr * m_hat / (torch.sqrt(v_hat) + self.eps)

    def zero_grad(self):
        for param in self.params:
            if param.grad is not None:
                param.grad.zero_()


def clip_gradients(parameters, max_norm=1.0):
    parameters = [p for p in parameters if p.grad is not None]
    total_norm = torch.sqrt(sum(p.grad.data.norm(2) ** 2 for p in parameters))
    clip_coef = max_norm / (total_norm + 1e-6)
    if clip_coef < 1:
        for p in parameters:
            p.grad.data.mul_(clip_coef)
    return total_norm


def compute_loss(outputs, targets, pad_idx=0):
    _batch_size, _seq_len, vocab_size = outputs.shape
    outputs = outputs.reshape(-1, vocab_size)
    targets = targets.reshape(-1)
    return F.cross_entropy(outputs, targets, ignore_index=pad_idx, reduction="mean")


def train_epoch(model, data_loader, optimizer, teacher_forcing_ratio=0.5):
    """The notebook's train_epoch (on the CPU): mean loss over the batches."""
    model.train()
    total_loss = 0
    for src, tgt in data_loader:
        optimizer.zero_grad()
        outputs, _ = model(src, tgt, teacher_forcing_ratio)
        loss = compute_loss(outputs[:, 1:], tgt[:, 1:])
        loss.backward()
        clip_gradients(model.parameters(), max_norm=1.0)
        optimizer.step()
        total_loss += loss.item()
    return total_loss / len(data_loader)


def predict_with_attention(model, src_tensor, sos_idx=1, eos_idx=2, max_len=20):
    """The notebook's one-sentence greedy loop: (token ids, attention [steps, S])."""
    model.eval()
    with torch.no_grad():
        src_tensor = src_tensor.unsqueeze(0)
        encoder_outputs, hidden = model.encoder(src_tensor)
        src_mask = src_tensor == 0
        decoder_input = torch.LongTensor([[sos_idx]])
        predictions, attention_weights = [], []
        for _ in range(max_len):
            output, hidden, attn = model.decoder(decoder_input, hidden, encoder_outputs, src_mask)
            top1 = output.argmax(1)
            predictions.append(top1.item())
            attention_weights.append(attn.cpu().numpy()[0])
            if top1.item() == eos_idx:
                break
            decoder_input = top1.unsqueeze(1)
    return predictions, np.array(attention_weights)


def build(vocab_size, embed_dim=128, hidden_dim=256, num_layers=2, dropout=0.1):
    """The notebook's main(): encoder, decoder, model."""
    encoder = Encoder(vocab_size, embed_dim, hidden_dim, num_layers, dropout)
    decoder = Decoder(vocab_size, embed_dim, hidden_dim, num_layers, dropout)
    return Seq2SeqWithAttention(encoder, decoder)
