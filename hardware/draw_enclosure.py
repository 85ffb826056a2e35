"""Draw the enclosure on the shin with the sensor axes of CONTRACTS §1.

    python hardware/draw_enclosure.py [OUT_DIR]      # writes enclosure.svg and enclosure.png

Left: side view from the wearer's right, the wearer facing right. +X runs up the tibia,
+Z out of the skin (forward), so +Y = Z × X points out of the page, toward the viewer (the
wearer's right). Right: front view, wearer facing the viewer: +Z comes out of the page and
+Y points to the page's left (the wearer's right). Middle: the tibial angle sign.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Arc, Circle, FancyArrowPatch, FancyBboxPatch, Polygon  # noqa: E402
from matplotlib.transforms import Affine2D  # noqa: E402

X_COLOR, Y_COLOR, Z_COLOR = "#d62728", "#2ca02c", "#1f77b4"  # x red, y green, z blue (RGB = XYZ)
SKIN, BONE, BOX, STRAP = "#f3d6c1", "#e8e2d0", "#3b3b3b", "#7a6a55"


def arrow(ax, x0, y0, x1, y1, color, label, lx=0.0, ly=0.0, size=13):
    ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=18,
                                 lw=2.6, color=color, zorder=6))
    ax.text(x1 + lx, y1 + ly, label, color=color, fontsize=size, fontweight="bold",
            ha="center", va="center", zorder=7)


def out_of_page(ax, x, y, color, label, lx, ly):
    """⊙: an axis pointing toward the viewer."""
    ax.add_patch(Circle((x, y), 0.17, fc="white", ec=color, lw=2.4, zorder=8))
    ax.add_patch(Circle((x, y), 0.05, color=color, zorder=9))
    ax.text(x + lx, y + ly, label, color=color, fontsize=13, fontweight="bold", ha="center", va="center",
            zorder=9)


def side_view(ax):
    ax.set_title("Side view (from the wearer's right)", fontsize=12)
    tilt_deg = 25.0  # knee forward over the toes: positive tibial angle
    t = math.radians(tilt_deg)
    ux, uy = math.sin(t), math.cos(t)  # unit vector up the tibia (page coords, forward = +x)
    nx, ny = uy, -ux  # anterior normal (out of the skin)
    ankle = (0.0, 0.6)
    knee = (ankle[0] + 4.2 * ux, ankle[1] + 4.2 * uy)
    # Foot, shin, thigh (rough silhouettes).
    ax.add_patch(Polygon([(-0.9, 0.0), (2.4, 0.0), (2.4, 0.25), (0.6, 0.55), (-0.5, 0.9), (-0.9, 0.6)],
                         closed=True, color=SKIN, ec="#b08a70", zorder=1))
    w = 0.55
    shin = [(ankle[0] - w * nx * 0.6, ankle[1] - w * ny * 0.6), (ankle[0] + w * nx * 0.6, ankle[1] + w * ny * 0.6),
            (knee[0] + w * nx, knee[1] + w * ny), (knee[0] - w * nx * 1.1, knee[1] - w * ny * 1.1)]
    ax.add_patch(Polygon(shin, closed=True, color=SKIN, ec="#b08a70", zorder=1))
    ax.add_patch(Polygon([(knee[0] - 0.7, knee[1] - 0.3), (knee[0] + 0.6, knee[1] + 0.1),
                          (knee[0] - 1.6, knee[1] + 1.6), (knee[0] - 2.6, knee[1] + 1.0)],
                         closed=True, color=SKIN, ec="#b08a70", zorder=1))
    ax.add_patch(Circle(knee, 0.55, color=SKIN, ec="#b08a70", zorder=1))
    ax.text(knee[0] + 0.2, knee[1] + 0.75, "knee", fontsize=10, color="#555", ha="center")
    ax.text(2.0, -0.3, "toes", fontsize=10, color="#555", ha="center")
    ax.text(-0.9, 3.9, "← back", fontsize=10, color="#555")
    ax.text(3.3, 3.9, "front →", fontsize=10, color="#555")
    # Enclosure: a hand's width below the knee, on the front (anterior) face of the shin.
    c = (knee[0] - 1.25 * ux + (w * 0.8 + 0.22) * nx, knee[1] - 1.25 * uy + (w * 0.8 + 0.22) * ny)
    box = FancyBboxPatch((-0.22, -0.6), 0.44, 1.2, boxstyle="round,pad=0.03", color=BOX, zorder=4)
    box.set_transform(Affine2D().rotate(-t).translate(*c) + ax.transData)
    ax.add_patch(box)
    for off in (-0.42, 0.42):  # the strap around the shin
        s0 = (c[0] + off * ux + 0.3 * nx, c[1] + off * uy + 0.3 * ny)
        s1 = (c[0] + off * ux - 1.25 * nx, c[1] + off * uy - 1.25 * ny)
        ax.plot([s0[0], s1[0]], [s0[1], s1[1]], color=STRAP, lw=5, solid_capstyle="round", zorder=3)
    # Sensor axes from the enclosure centre.
    arrow(ax, *c, c[0] + 1.5 * ux, c[1] + 1.5 * uy, X_COLOR, "+X", 0.1 * nx + 0.25, 0.2)
    arrow(ax, *c, c[0] + 1.4 * nx, c[1] + 1.4 * ny, Z_COLOR, "+Z", 0.35, 0.0)
    out_of_page(ax, *c, Y_COLOR, "+Y", -0.6, -0.15)
    ax.text(0.4, -0.75, "+Y ⊙ = out of the page (the wearer's right)", fontsize=9, color=Y_COLOR)
    # Tibial angle: from vertical to the shin, positive with the knee forward.
    ax.plot([ankle[0], ankle[0]], [ankle[1], ankle[1] + 2.6], ls="--", color="#777", lw=1.2, zorder=2)
    ax.add_patch(Arc(ankle, 3.2, 3.2, theta1=90 - tilt_deg, theta2=90, color="k", lw=1.5, zorder=5))
    ax.text(ankle[0] - 0.2, ankle[1] + 1.45, "tibial angle\nθ > 0: knee\nforward", fontsize=10, zorder=7,
            ha="right", va="center")
    ax.set_xlim(-2.9, 4.6)
    ax.set_ylim(-1.0, 6.8)


def front_view(ax):
    ax.set_title("Front view (wearer facing you)", fontsize=12)
    ax.add_patch(FancyBboxPatch((-0.75, 0.0), 1.5, 5.0, boxstyle="round,pad=0.1", color=SKIN, ec="#b08a70"))
    ax.add_patch(Circle((0.0, 5.3), 0.85, color=SKIN, ec="#b08a70"))
    ax.text(0.95, 5.75, "knee", fontsize=10, color="#555")
    ax.add_patch(FancyBboxPatch((-1.0, 3.55), 2.0, 0.32, boxstyle="round,pad=0.02", color=STRAP))
    ax.add_patch(FancyBboxPatch((-1.0, 2.35), 2.0, 0.32, boxstyle="round,pad=0.02", color=STRAP))
    ax.add_patch(FancyBboxPatch((-0.45, 2.2), 0.9, 1.85, boxstyle="round,pad=0.05", color=BOX, zorder=3))
    ax.add_patch(Circle((-0.2, 3.75), 0.07, color="#2ca02c", zorder=4))  # LEDs and button on the lid
    ax.add_patch(Circle((0.0, 3.75), 0.07, color="#ff9f1c", zorder=4))
    ax.add_patch(Circle((0.2, 3.75), 0.07, color="#d62728", zorder=4))
    ax.add_patch(Circle((0.0, 2.55), 0.14, color="#999", zorder=4))
    c = (0.0, 3.1)
    arrow(ax, *c, 0.0, 4.75, X_COLOR, "+X", 0.4, 0.0)
    arrow(ax, *c, -1.8, 3.1, Y_COLOR, "+Y", -0.05, 0.35)
    out_of_page(ax, *c, Z_COLOR, "+Z", 0.5, -0.3)
    ax.text(-2.1, 1.4, "← wearer's right", fontsize=10, color="#555")
    ax.text(0.0, -0.5, "+Z ⊙ = out of the page (forward)", fontsize=9, color=Z_COLOR, ha="center")
    ax.set_xlim(-2.6, 2.2)
    ax.set_ylim(-1.0, 6.8)


def draw(out_dir: Path) -> list[Path]:
    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "kotdevice", "font.family": "DejaVu Sans"})
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 6.2), gridspec_kw={"width_ratios": [7.5, 4.8]})
    side_view(a)
    front_view(b)
    for ax in (a, b):
        ax.set_aspect("equal")
        ax.axis("off")
    fig.suptitle("kotdevice enclosure on the shin: sensor axes (CONTRACTS §1)", fontsize=14)
    fig.text(0.5, 0.02, "Rotation about X (strap twisted up to ±30°) does not change the tibial angle; "
             "either leg works.", ha="center", fontsize=9, color="#444")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "enclosure.svg", out_dir / "enclosure.png"]
    fig.savefig(paths[0], metadata={"Date": None})
    fig.savefig(paths[1], dpi=100, metadata={"Software": None})
    plt.close(fig)
    return paths


if __name__ == "__main__":
    for p in draw(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent):
        print(p, file=sys.stderr)
