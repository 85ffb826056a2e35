"""The raw IMU CSV file of CONTRACTS §2: read (streaming or whole) and write.

A malformed file is refused with an InputFileError naming the file and line; nothing is
guessed or skipped, so a wrong file can never produce a silently wrong result.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Iterator, TextIO

import numpy as np

from kotdevice.errors import InputFileError
from kotdevice.samples import ImuBlock

COLUMNS = ("t_s", "ax_g", "ay_g", "az_g", "gx_dps", "gy_dps", "gz_dps")
HEADER = ",".join(COLUMNS)


def iter_blocks(path: str | Path, block_size: int = 512) -> Iterator[ImuBlock]:
    """Yield the file as ImuBlocks of up to ``block_size`` samples (bounded memory)."""
    path = Path(path)
    try:
        fh = open(path, "r", encoding="utf-8", newline="")
    except OSError as e:
        raise InputFileError(path, 0, f"cannot open: {e.strerror or e}") from None
    with fh:
        yield from _parse(fh, path, block_size)


def read_csv(path: str | Path) -> ImuBlock:
    """The whole file as one ImuBlock."""
    return ImuBlock.concat(list(iter_blocks(path, block_size=65536)))


def _parse(fh: TextIO, path: Path, block_size: int) -> Iterator[ImuBlock]:
    try:
        header = fh.readline()
    except UnicodeDecodeError:
        raise InputFileError(path, 1, "not UTF-8 text") from None
    names = [h.strip() for h in header.strip().lstrip("\ufeff").split(",")]
    if tuple(names[:7]) != COLUMNS:
        raise InputFileError(
            path, 1, f"header must start with {HEADER!r}, found {header.strip()[:80]!r}"
        )
    rows: list[list[float]] = []
    last_t = -math.inf
    line_no = 1
    try:
        for line_no, line in enumerate(fh, start=2):
            if not line.strip():
                continue  # a trailing blank line is harmless
            parts = line.split(",")
            if len(parts) < 7:
                raise InputFileError(path, line_no, f"expected 7 columns, found {len(parts)}")
            try:
                row = [float(p) for p in parts[:7]]
            except ValueError:
                bad = next(i for i, p in enumerate(parts[:7]) if not _is_float(p))
                raise InputFileError(
                    path, line_no, f"column {COLUMNS[bad]}: not a number: {parts[bad].strip()[:40]!r}"
                ) from None
            for i, v in enumerate(row):
                if not math.isfinite(v):
                    raise InputFileError(path, line_no, f"column {COLUMNS[i]}: not a finite number")
            if row[0] <= last_t:
                raise InputFileError(
                    path, line_no, f"t_s={row[0]:g} does not increase (previous {last_t:g})"
                )
            last_t = row[0]
            rows.append(row)
            if len(rows) >= block_size:
                yield _block(rows)
                rows = []
    except UnicodeDecodeError:
        raise InputFileError(path, line_no + 1, "not UTF-8 text") from None
    if rows:
        yield _block(rows)
    elif last_t == -math.inf:
        raise InputFileError(path, 2, "no samples after the header")


def _is_float(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _block(rows: list[list[float]]) -> ImuBlock:
    a = np.asarray(rows, dtype=np.float64)
    return ImuBlock(a[:, 0].copy(), a[:, 1:4].copy(), a[:, 4:7].copy())


class CsvWriter:
    """Writes ImuBlocks as contract CSV. Use as a context manager."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fh = open(self.path, "w", encoding="utf-8", newline="\n")
        self._fh.write(HEADER + "\n")
        self.samples_written = 0

    def write(self, block: ImuBlock) -> None:
        t, a, g = block.t_s, block.accel_g, block.gyro_dps
        lines = [
            f"{t[i]:.6f},{a[i,0]:.5f},{a[i,1]:.5f},{a[i,2]:.5f},{g[i,0]:.3f},{g[i,1]:.3f},{g[i,2]:.3f}\n"
            for i in range(len(t))
        ]
        self._fh.writelines(lines)
        self.samples_written += len(lines)

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> "CsvWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_csv(path: str | Path, block: ImuBlock) -> None:
    with CsvWriter(path) as w:
        w.write(block)
