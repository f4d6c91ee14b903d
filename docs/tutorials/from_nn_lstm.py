# %% [markdown]
# # From `nn.LSTM` to `rk.LSTM`: lengths and recurrent dropout
#
# `rk.LSTM` takes `torch.nn.LSTM`'s arguments and state dict and returns what it returns. What
# it adds: `lengths=` instead of packing, and the recurrent regularizers as one argument each.

# %%
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit as rk

torch.manual_seed(0)
reference = nn.LSTM(input_size=5, hidden_size=8, num_layers=2, batch_first=True)
lstm = rk.LSTM(input_size=5, hidden_size=8, num_layers=2, batch_first=True)
lstm.load_state_dict(reference.state_dict())  # same names, same layouts

x = torch.randn(3, 12, 5)
lengths = torch.tensor([12, 8, 3])

# %% [markdown]
# With `torch.nn`, variable lengths mean packing (and sorting, or `enforce_sorted=False`) and
# unpacking. With rnnkit, pass the lengths:

# %%
packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
out_packed, (h_ref, c_ref) = reference(packed)
out_ref, _ = pad_packed_sequence(out_packed, batch_first=True, total_length=12)

out, (h, c) = lstm(x, lengths=lengths)
print("outputs equal:", torch.allclose(out, out_ref, atol=1e-6), "| final states equal:",
      torch.allclose(h, h_ref, atol=1e-6) and torch.allclose(c, c_ref, atol=1e-6))
print("which implementation ran:", lstm.forward_path(), "-", lstm.forward_path().reason)

# %% [markdown]
# ## Recurrent dropout
#
# `dropout=` (as in torch) drops between layers. `recurrent_dropout=` drops the recurrent state
# with one mask per sequence, the same at every step (Gal & Ghahramani 2016), which torch.nn
# has no argument for. It is active in training mode only.

# %%
regularized = rk.LSTM(5, 8, num_layers=2, batch_first=True, dropout=0.2, recurrent_dropout=0.25)
regularized.load_state_dict(reference.state_dict())
regularized.train()
a, _ = regularized(x, lengths=lengths)
b, _ = regularized(x, lengths=lengths)
regularized.eval()
e, _ = regularized(x, lengths=lengths)
print("training: two calls differ:", not torch.allclose(a, b),
      "| eval: equals the plain LSTM:", torch.allclose(e, out, atol=1e-6))
print("path with recurrent dropout:", regularized.train().forward_path())

# %% [markdown]
# ## Back to torch
#
# A layer with nothing torch lacks converts back exactly; one with recurrent dropout is refused
# with the reason (torch.nn cannot compute it).

# %%
back = lstm.to_torch()
print(type(back).__name__, torch.allclose(back(x)[0], lstm(x)[0], atol=1e-6))
try:
    regularized.to_torch()
except ValueError as error:
    print("refused:", error)
