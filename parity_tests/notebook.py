"""The notebook's own model classes and greedy loop, copied as written (defects included).

Used only to prove that a state_dict saved by the notebook imports into revseq and decodes to
the same tokens. Comments mark where revseq deliberately differs.
"""

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
