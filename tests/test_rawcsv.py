import numpy as np
import pytest

from kotdevice.errors import InputFileError
from kotdevice.rawcsv import HEADER, iter_blocks, read_csv, write_csv
from kotdevice.samples import ImuBlock


def _block(n=1000, seed=1):
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.uniform(0.004, 0.006, n))
    return ImuBlock(t, rng.normal(0, 1, (n, 3)), rng.normal(0, 50, (n, 3)))


def test_round_trip_keeps_values_to_file_precision(tmp_path):
    b = _block()
    p = tmp_path / "x.csv"
    write_csv(p, b)
    r = read_csv(p)
    assert len(r) == len(b)
    assert np.max(np.abs(r.t_s - b.t_s)) <= 5e-7
    assert np.max(np.abs(r.accel_g - b.accel_g)) <= 5e-6
    assert np.max(np.abs(r.gyro_dps - b.gyro_dps)) <= 5e-4


def test_streaming_blocks_concatenate_to_whole(tmp_path):
    p = tmp_path / "x.csv"
    write_csv(p, _block(777))
    blocks = list(iter_blocks(p, block_size=100))
    assert [len(b) for b in blocks] == [100] * 7 + [77]
    assert np.array_equal(ImuBlock.concat(blocks).t_s, read_csv(p).t_s)


def test_extra_columns_are_ignored(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text(HEADER + ",temp_c\n0.0,1,0,0,0,0,0.5,25.1\n0.01,1,0,0,0,0,-0.5,25.2\n")
    r = read_csv(p)
    assert np.array_equal(r.t_s, [0.0, 0.01])
    assert np.array_equal(r.accel_g, [[1, 0, 0], [1, 0, 0]])
    assert np.array_equal(r.gyro_dps, [[0, 0, 0.5], [0, 0, -0.5]])  # temp_c is not read as gz


@pytest.mark.parametrize(
    "body, line, words",
    [
        ("0.0,1,0,0,0,0\n", 2, "expected 7 columns"),
        ("0.0,1,0,0,0,0,0\n0.01,1,zero,0,0,0,0\n", 3, "ay_g"),
        ("0.0,1,0,0,0,0,0\n0.02,1,0,0,0,0,0\n0.01,1,0,0,0,0,0\n", 4, "does not increase"),
        ("0.0,1,0,0,0,0,0\n0.0,1,0,0,0,0,0\n", 3, "does not increase"),
        ("0.0,1,0,nan,0,0,0\n", 2, "finite"),
        ("", 2, "no samples"),
    ],
)
def test_malformed_file_names_file_and_line(tmp_path, body, line, words):
    p = tmp_path / "bad.csv"
    p.write_text(HEADER + "\n" + body)
    with pytest.raises(InputFileError) as e:
        read_csv(p)
    assert e.value.line_no == line
    assert words in str(e.value)
    assert str(p) in str(e.value)
    assert "\n" not in str(e.value)


def test_wrong_header_is_refused(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text("time,ax,ay,az,gx,gy,gz\n0,1,0,0,0,0,0\n")
    with pytest.raises(InputFileError, match=r"bad.csv:1: header"):
        read_csv(p)
