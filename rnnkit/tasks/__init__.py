"""Tasks: what makes a model a job (data, loss, metrics, plots)."""
