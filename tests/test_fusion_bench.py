"""`kotdevice bench tilt` on a tiny synthetic data set in the BROAD layout."""
from __future__ import annotations

import numpy as np
import pytest

from kotdevice.cli import main


def _write_trial(d, name, seconds, rate_hz, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    g = np.column_stack([20 * np.sin(2 * np.pi * 0.3 * t), 50 * np.sin(2 * np.pi * 0.2 * t),
                         np.zeros_like(t)])
    g[t < 2] = 0
    up = np.empty((len(t), 3))
    v = np.array([0.0, 0.0, 1.0])
    for i in range(len(t)):
        if i:
            w = np.radians(g[i])
            wn = np.linalg.norm(w)
            if wn:
                k, a = w / wn, -wn / rate_hz
                v = v * np.cos(a) + np.cross(k, v) * np.sin(a) + k * (k @ v) * (1 - np.cos(a))
        up[i] = v
    acc = up + rng.normal(0, 0.01, up.shape)
    imu = np.column_stack([t, acc, g + rng.normal(0, 0.2, g.shape)])
    np.savetxt(d / f"{name}.csv", imu, delimiter=",", fmt="%.6f",
               header="t_s,ax_g,ay_g,az_g,gx_dps,gy_dps,gz_dps", comments="")
    valid = np.ones(len(t))
    valid[5] = 0
    up_t = up.copy()
    up_t[5] = np.nan  # the cameras lost the body here: not scored
    truth = np.column_stack([t, up_t, valid, (t > 2).astype(float)])
    np.savetxt(d / f"{name}_truth.csv", truth, delimiter=",", fmt="%.6f",
               header="t_s,gvx,gvy,gvz,valid,movement", comments="")
    return len(t)


def test_bench_tilt_table_and_estimates(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    n1 = _write_trial(data, "t01", 8.0, 100.0, 1)
    _write_trial(data, "t02", 6.0, 200.0, 2)
    (data / "trials.csv").write_text("trial,disturbed\nt01,0\nt02,1\n")
    out = tmp_path / "est"
    assert main(["bench", "tilt", "--data", str(data), "--out", str(out)]) == 0
    cap = capsys.readouterr()
    assert "[tilt] t01" in cap.err  # progress on stderr
    lines = [ln for ln in cap.out.splitlines() if ln.startswith("| t0")]
    assert len(lines) == 2
    ours = [float(ln.split("|")[3]) for ln in lines]
    assert all(0 <= v < 0.5 for v in ours)
    assert "mean undisturbed" in cap.out and "mean disturbed" in cap.out
    assert "VQF real-time" in cap.out and "imufusion" in cap.out
    est = np.loadtxt(out / "t01_est.csv", delimiter=",", skiprows=1)
    assert est.shape == (n1, 4)
    assert np.allclose(np.linalg.norm(est[:, 1:], axis=1), 1.0, atol=1e-5)
    assert (out / "t01_est.csv").read_text().startswith("t_s,ux,uy,uz\n")


def test_bench_tilt_bad_dir_is_one_line_error(tmp_path, capsys):
    assert main(["bench", "tilt", "--data", str(tmp_path / "nope"), "--no-peers"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a directory" in err[0]
    (tmp_path / "t01.csv").write_text("t_s,ax_g,ay_g,az_g,gx_dps,gy_dps,gz_dps\n0,0,0,1,0,0,0\n")
    assert main(["bench", "tilt", "--data", str(tmp_path), "--no-peers"]) == 2
    assert "t01_truth.csv" in capsys.readouterr().err


def test_incl_rmse_scoring_uses_only_valid_movement_samples():
    from kotdevice.bench.tilt import incl_rmse_deg

    true_up = np.tile([0.0, 0.0, 1.0], (4, 1))
    est = np.array([[0, 0, 1.0], [np.sin(np.radians(3)), 0, np.cos(np.radians(3))],
                    [1.0, 0, 0], [0, 0, 1.0]])
    mask = np.array([True, True, False, True])
    assert incl_rmse_deg(est, true_up, mask) == pytest.approx(np.sqrt(9 / 3), rel=1e-9)
