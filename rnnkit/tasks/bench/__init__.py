"""Measuring rnnkit on this machine (``rnnkit bench``): the machine's description, the
interleaved timer, and the speed check of the layers against torch.nn."""

from rnnkit.tasks.bench.machine import cpu_model, cpu_vendor_and_isa, machine_info, time_interleaved
from rnnkit.tasks.bench.speed import SHAPES, SpeedCheck, Target, check_targets, speed_check, write_check

__all__ = ["SHAPES", "SpeedCheck", "Target", "check_targets", "cpu_model", "cpu_vendor_and_isa", "machine_info",
           "speed_check", "time_interleaved", "write_check"]
