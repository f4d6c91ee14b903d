"""Data: loaders for time series and labelled sequences, and the named real data sets."""
