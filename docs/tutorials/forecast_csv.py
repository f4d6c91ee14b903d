# %% [markdown]
# # Forecasting a CSV, beside the baselines
#
# Your series in a CSV, a preset, and `--set` for what differs: the run trains, keeps the
# weights of the best validation score, reads the test part once, and puts the seasonal naive
# forecast, ETS and ARIMA beside the model on the same test origins. Here a small generated
# series (a cycle of 12 steps, a trend and noise) stands in for yours, and the budget is a few seconds.

# %%
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from rnnkit.config import load_source
from rnnkit.tasks.core import run

work = Path(tempfile.mkdtemp())  # your own folder in real use
rng = np.random.default_rng(0)
t = np.arange(300)
series = 10 + 3 * np.sin(2 * np.pi * t / 12) + 0.02 * t + rng.normal(0, 0.4, t.size)
pd.DataFrame({"hour": t, "load": series}).to_csv(work / "my_series.csv", index=False)

# %% [markdown]
# The same as `rnnkit train forecast-airline --set data.name=null --set data.path=my_series.csv ...`
# on the command line:

# %%
overrides = ["data.name=null", f"data.path={work / 'my_series.csv'}", "data.value_columns=[load]", "data.transform=none",
             "data.season=12", "data.window=36", "data.horizon=12", "data.test_size=36", "data.validation_size=36",
             "data.stride=12", "train.steps=150", "train.eval_every=50", "train.progress=false"]
config = run.resolve_config(load_source("forecast-airline"), overrides)
run_dir, result = run.train(config, work / "runs" / "forecast")
print(result.report["text"])

# %% [markdown]
# The run folder holds what a run always holds: `config.yaml` as trained, the checkpoints,
# `train.csv` and `eval.csv`, the plots, and `summary.json` with the report.

# %%
from IPython.display import Image  # noqa: E402

Image(str(run_dir / "backtest.png"))
