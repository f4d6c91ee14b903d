"""The applications: what makes a model a job (data, loss, metrics, baselines, plots, files).

One subpackage per application, side by side, none importing another::

    forecast/  anomaly/  classify/  language/  sentiment/  music/  translate/  speech/  video/
    long_term/ (the adding and copy tasks)  demo/ (``rnnkit demo``)  bench/ (``rnnkit bench speed``)

and beneath them ``core/``, what several share: the task registry (a task name -> the module
that defines it, imported only when asked for), running a task (train, resume, evaluate),
metrics, plotting and classification reports. Nothing here is imported by ``import rnnkit``.
"""
