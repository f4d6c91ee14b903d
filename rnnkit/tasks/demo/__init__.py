"""The tour (``rnnkit demo``): a small model per family of tasks on real data, beside its baseline, on one page."""

from rnnkit.tasks.demo.page import render, write_page
from rnnkit.tasks.demo.tour import (
    PARTS,
    Model,
    Part,
    PartResult,
    TourResult,
    as_dict,
    part_names,
    run_part,
    run_tour,
    select,
)

__all__ = ["PARTS", "Model", "Part", "PartResult", "TourResult", "as_dict", "part_names", "render", "run_part",
           "run_tour", "select", "write_page"]
