"""The demo: an LSTM and a tanh RNN learn the yearly sunspot cycle (``rnnkit demo``)."""

from rnnkit.tasks.demo.sunspots import DemoResult, load_csv_column, load_sunspots, plot_demo, run_demo, summary

__all__ = ["DemoResult", "load_csv_column", "load_sunspots", "plot_demo", "run_demo", "summary"]
