"""Draw rnnkit's imports between its parts, from the code itself: ``docs/imports.png``.

Each box is a part of the package (a subpackage; each application of ``rnnkit/tasks`` on its
own); each arrow says "imports", drawn once however many modules import. The edges are the ones
``tests/test_architecture.py`` checks (every import statement, inside functions too), so the
picture and the test cannot disagree. The two leaves (files, extras: every part may use them,
they use nothing of rnnkit) are drawn without their many incoming arrows.

    python tools/draw_imports.py [--out docs/imports.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_architecture import application, edges, level  # noqa: E402

ROWS = [  # bottom to top
    ["files", "extras"],
    ["functional", "config"],
    ["cells", "data"],
    ["layers", "training"],
    ["models", "testing"],
    ["tasks.core"],
    None,  # the applications, side by side
    ["serve"],
    ["cli"],
]


def part(module: str) -> str | None:
    """The box a module belongs to: its subpackage, ``tasks.core``, or ``tasks.<application>``."""
    app = application(module)
    if app is not None:
        return f"tasks.{app}"
    if module.startswith("rnnkit.tasks"):
        return "tasks.core" if module.startswith("rnnkit.tasks.core") else None
    return level(module)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "imports.png")
    args = parser.parse_args()
    from rnnkit.tasks.core.plotting import pyplot, save_figure

    graph = edges()
    arrows = {(part(a), part(b)) for a, targets in graph.items() for b in targets}
    leaves = set(ROWS[0])
    arrows = {(a, b) for a, b in arrows if a and b and a != b and b not in leaves}
    apps = sorted({p for p in (part(m) for m in graph) if p and p.startswith("tasks.") and p != "tasks.core"})
    rows = [row if row is not None else apps for row in ROWS]
    width = max(len(r) for r in rows)
    where = {}
    for y, row in enumerate(rows):
        for x, name in enumerate(row):
            where[name] = ((x + 0.5) * width / len(row), y * 1.6)
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(1.5 * width + 1, 1.1 * len(rows) + 1))
    for a, b in sorted(arrows):
        if a in where and b in where:
            (x0, y0), (x1, y1) = where[a], where[b]
            axis.annotate("", xy=(x1, y1 + 0.28), xytext=(x0, y0 - 0.28),
                          arrowprops={"arrowstyle": "->", "color": "0.55", "lw": 0.6, "shrinkA": 2, "shrinkB": 2})
    for name, (x, y) in where.items():
        app = name.startswith("tasks.") and name != "tasks.core"
        axis.text(x, y, name.removeprefix("tasks.") if app else name, ha="center", va="center", fontsize=8,
                  bbox={"boxstyle": "round", "facecolor": "#dceefb" if app else "#eeeeee", "edgecolor": "0.4"})
    axis.set_xlim(-0.2, width + 0.2)
    axis.set_ylim(-0.8, (len(rows) - 1) * 1.6 + 0.8)
    axis.axis("off")
    axis.set_title("rnnkit's imports (an arrow: imports); the applications side by side, none importing another;\n"
                   "files and extras, at the bottom, are leaves that every part may use", fontsize=9)
    print(f"wrote {save_figure(figure, args.out, dpi=110)}")


if __name__ == "__main__":
    main()
