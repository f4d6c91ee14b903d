# %% [markdown]
# # A custom cell in `rk.Recurrent`
#
# A cell in rnnkit is any module with three members: `output_size`, `initial_state(B)` and
# `step(x_t, state) -> (h_t, state)`. `rk.Recurrent` puts the time loop around it: stacking,
# both directions, and sequences of different lengths in one batch. Here we write the
# *minimal gated unit* (Zhou et al. 2016), a GRU with one gate:
#
# $$f_t = \sigma(W_f x_t + U_f h_{t-1} + b_f), \qquad
#   \tilde h_t = \tanh(W_h x_t + U_h (f_t \odot h_{t-1}) + b_h), \qquad
#   h_t = (1 - f_t) \odot h_{t-1} + f_t \odot \tilde h_t$$

# %%
import torch
from torch import nn

import rnnkit as rk

torch.manual_seed(0)


class MinimalGatedCell(nn.Module):
    """``step``: ``x_t (B, I)``, ``h (B, H)`` -> ``(h_t (B, H), h_t)``."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.input = nn.Linear(input_size, 2 * hidden_size)  # W_f, W_h and both biases
        self.forget = nn.Linear(hidden_size, hidden_size, bias=False)  # U_f
        self.candidate = nn.Linear(hidden_size, hidden_size, bias=False)  # U_h

    @property
    def output_size(self) -> int:
        return self.hidden_size

    def initial_state(self, batch_size: int) -> torch.Tensor:
        return self.forget.weight.new_zeros(batch_size, self.hidden_size)

    def step(self, x, h):
        xf, xh = self.input(x).chunk(2, dim=-1)
        f = torch.sigmoid(xf + self.forget(h))
        candidate = torch.tanh(xh + self.candidate(f * h))
        h = (1 - f) * h + f * candidate
        return h, h


# %% [markdown]
# `rk.Recurrent` builds one cell per layer and direction with the factory it is given
# (its argument is the cell's input size: the second layer reads both directions of the first).

# %%
layer = rk.Recurrent(lambda n: MinimalGatedCell(n, 16), input_size=3, num_layers=2, bidirectional=True,
                     batch_first=True)
x = torch.randn(4, 10, 3)
lengths = torch.tensor([10, 7, 4, 1])
output, states = layer(x, lengths=lengths)
print(output.shape, len(states), states[0].shape)

# %% [markdown]
# Past each sequence's length the output is zero, and the states are taken at its last valid
# step: a padded sequence gives exactly what it gives alone.

# %%
alone, alone_states = layer(x[2:3, :4], lengths=torch.tensor([4]))
print("padding has no effect:", torch.allclose(output[2, :4], alone[0], atol=1e-6),
      "| zero past the length:", bool(output[2, 4:].eq(0).all()))

# %% [markdown]
# Streaming one step at a time gives what the whole sequence gives (one direction: a
# bidirectional layer needs the future).

# %%
forward_only = rk.Recurrent(lambda n: MinimalGatedCell(n, 16), input_size=3, batch_first=True)
whole, _ = forward_only(x)
state = None
steps = []
for t in range(x.shape[1]):
    h, state = forward_only.step(x[:, t], state)
    steps.append(h)
print("step == sequence:", torch.allclose(torch.stack(steps, 1), whole, atol=1e-6))

# %% [markdown]
# The cell trains like any module. A quick check that it learns: the running sum of a
# sequence's signs, read out at every step.

# %%
model = nn.ModuleDict({"rnn": forward_only, "head": nn.Linear(16, 1)})
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
for step in range(200):
    inputs = torch.randn(32, 10, 3)
    target = inputs[..., :1].sign().cumsum(1) / 10
    hidden, _ = model["rnn"](inputs)
    loss = nn.functional.mse_loss(model["head"](hidden), target)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
print(f"mean squared error after 200 steps: {loss.item():.4f} (predicting zero: {target.pow(2).mean().item():.4f})")
