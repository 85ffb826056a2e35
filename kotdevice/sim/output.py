"""Writing a SimResult to disk: contract CSV + FILE.truth.json + FILE.truth.csv."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from kotdevice.errors import KotError
from kotdevice.rawcsv import CsvWriter


def truth_paths(csv_path: str | Path) -> tuple[Path, Path]:
    """FILE.csv -> (FILE.truth.json, FILE.truth.csv)."""
    p = Path(csv_path)
    stem = p.name[:-4] if p.name.lower().endswith(".csv") else p.name
    return p.with_name(stem + ".truth.json"), p.with_name(stem + ".truth.csv")


def write_result(res, csv_path: str | Path) -> list[Path]:
    csv_path = Path(csv_path)
    jpath, tpath = truth_paths(csv_path)
    try:
        with CsvWriter(csv_path) as w:
            w.write(res.imu)
        with open(jpath, "w", encoding="utf-8") as fh:
            json.dump(res.truth, fh, indent=1)
            fh.write("\n")
        data = np.column_stack([res.imu.t_s, res.truth_angle_deg, res.truth_frontal_deg,
                                res.truth_right_axis])
        np.savetxt(tpath, data, fmt=("%.6f", "%.4f", "%.4f", "%.6f", "%.6f", "%.6f"), delimiter=",",
                   header="t_s,tibial_angle_deg,frontal_angle_deg,right_x,right_y,right_z", comments="")
    except OSError as e:
        raise KotError(f"{e.filename or csv_path}: cannot write: {e.strerror or e}") from None
    return [csv_path, jpath, tpath]


def load_truth(csv_path: str | Path) -> dict:
    """The truth JSON written beside a simulated CSV."""
    jpath, _ = truth_paths(csv_path)
    try:
        with open(jpath, encoding="utf-8") as fh:
            return json.load(fh)
    except OSError as e:
        raise KotError(f"{jpath}: cannot read ground truth: {e.strerror or e}") from None
