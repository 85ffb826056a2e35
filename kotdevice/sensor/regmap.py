"""Register maps as data: one table per chip family, shared by the drivers and the emulator.

In the style of register descriptors (Pimoroni i2cdevice, Adafruit Register): a register has an
address and a reset value, a field has a register, a bit position and a width, and the scale
tables map a full scale to (field code, counts per unit). Values are from the datasheets:
InvenSense MPU-6000/6050 Register Map rev 4.2, MPU-6500 / MPU-9250 Register Map rev 1.x,
ST LSM6DS3 DS10921, ST LSM6DSO DS12140.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Reg:
    name: str
    addr: int
    reset: int = 0x00


@dataclass(frozen=True)
class Field:
    reg: str  # register name
    shift: int
    width: int = 1

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.shift

    def encode(self, value: int) -> int:
        if not 0 <= value < (1 << self.width):
            raise ValueError(f"value {value} does not fit a {self.width}-bit field")
        return value << self.shift

    def decode(self, byte: int) -> int:
        return (byte & self.mask) >> self.shift

    def put(self, value: int) -> int:
        """``encode`` keeping only the field's width of ``value`` (a counter's low bits)."""
        return (int(value) << self.shift) & self.mask


@dataclass(frozen=True)
class ChipSpec:
    """Everything about one chip model that code needs, as data."""

    name: str  # e.g. "MPU-6050"
    family: str  # "mpu" | "lsm6ds3" | "lsm6dso"
    who_am_i: int
    addresses: tuple[int, ...]
    regs: dict[str, Reg]
    fields: dict[str, Field]
    accel_fs: dict[int, tuple[int, float]]  # full scale g -> (code, counts per g)
    gyro_fs: dict[int, tuple[int, float]]  # full scale dps -> (code, counts per dps)
    fifo_bytes: int  # FIFO capacity in bytes
    frame_bytes: int  # bytes per accel+gyro sample in the FIFO
    big_endian: bool  # byte order of the int16 words in the FIFO
    gyro_first: bool  # a FIFO frame holds gyro X,Y,Z before accel X,Y,Z
    fs_fields: tuple[str, str]  # fields holding the accel and gyro full-scale codes
    # FIFO data window: a burst read from this register stays in the window, the address
    # rolling back to it after every fifo_word bytes (one FIFO word)
    fifo_data: str
    fifo_word: int
    # ODR choices: for ST, code -> Hz; for MPU computed from the divider
    odr_codes: dict[int, float] = field(default_factory=dict)

    def reg(self, name: str) -> int:
        return self.regs[name].addr

    @property
    def fifo_window(self) -> range:
        a = self.reg(self.fifo_data)
        return range(a, a + self.fifo_word)


def _regs(*regs: Reg) -> dict[str, Reg]:
    return {r.name: r for r in regs}


# ---------------------------------------------------------------- InvenSense MPU family
_MPU_REGS = _regs(
    Reg("SMPLRT_DIV", 0x19),
    Reg("CONFIG", 0x1A),
    Reg("GYRO_CONFIG", 0x1B),
    Reg("ACCEL_CONFIG", 0x1C),
    Reg("FIFO_EN", 0x23),
    Reg("INT_ENABLE", 0x38),
    Reg("INT_STATUS", 0x3A),
    Reg("ACCEL_XOUT_H", 0x3B),  # 0x3B..0x40 accel, 0x41..0x42 temp, 0x43..0x48 gyro
    Reg("TEMP_OUT_H", 0x41),
    Reg("GYRO_XOUT_H", 0x43),
    Reg("USER_CTRL", 0x6A),
    Reg("PWR_MGMT_1", 0x6B, reset=0x40),  # MPU-6050 boots asleep (SLEEP=1)
    Reg("PWR_MGMT_2", 0x6C),
    Reg("FIFO_COUNTH", 0x72),
    Reg("FIFO_COUNTL", 0x73),
    Reg("FIFO_R_W", 0x74),
    Reg("WHO_AM_I", 0x75, reset=0x68),
)
_MPU_FIELDS = {
    "DLPF_CFG": Field("CONFIG", 0, 3),
    "EXT_SYNC_SET": Field("CONFIG", 3, 3),
    "FIFO_MODE": Field("CONFIG", 6),  # MPU-6500/9250 only: 1 = stop when full
    "FS_SEL": Field("GYRO_CONFIG", 3, 2),
    "FCHOICE_B": Field("GYRO_CONFIG", 0, 2),  # MPU-6500/9250: 00 = use DLPF_CFG
    "AFS_SEL": Field("ACCEL_CONFIG", 3, 2),
    "A_DLPF_CFG": Field("ACCEL_CONFIG2", 0, 3),  # MPU-6500/9250 only
    "ACCEL_FCHOICE_B": Field("ACCEL_CONFIG2", 3),
    "TEMP_FIFO_EN": Field("FIFO_EN", 7),
    "XG_FIFO_EN": Field("FIFO_EN", 6),
    "YG_FIFO_EN": Field("FIFO_EN", 5),
    "ZG_FIFO_EN": Field("FIFO_EN", 4),
    "ACCEL_FIFO_EN": Field("FIFO_EN", 3),
    "FIFO_OFLOW_EN": Field("INT_ENABLE", 4),
    "DATA_RDY_EN": Field("INT_ENABLE", 0),
    "FIFO_OFLOW_INT": Field("INT_STATUS", 4),
    "DATA_RDY_INT": Field("INT_STATUS", 0),
    "USER_FIFO_EN": Field("USER_CTRL", 6),
    "FIFO_RESET": Field("USER_CTRL", 2),  # self-clearing
    "DEVICE_RESET": Field("PWR_MGMT_1", 7),  # self-clearing
    "SLEEP": Field("PWR_MGMT_1", 6),
    "CYCLE": Field("PWR_MGMT_1", 5),
    "CLKSEL": Field("PWR_MGMT_1", 0, 3),
}
# Full scale -> (code, counts per unit): MPU-6050 PS §6.1/6.2 (same for 6500/9250)
_MPU_ACCEL_FS = {2: (0, 16384.0), 4: (1, 8192.0), 8: (2, 4096.0), 16: (3, 2048.0)}
_MPU_GYRO_FS = {250: (0, 131.0), 500: (1, 65.5), 1000: (2, 32.8), 2000: (3, 16.4)}
# DLPF_CFG -> gyro bandwidth Hz (1..6 run the gyro at 1 kHz; 0 and 7 at 8 kHz)
MPU_DLPF_BW_HZ = {1: 188.0, 2: 98.0, 3: 42.0, 4: 20.0, 5: 10.0, 6: 5.0}


def _mpu(name: str, who: int, fifo_bytes: int, extra: tuple[Reg, ...] = ()) -> ChipSpec:
    regs = dict(_MPU_REGS)
    regs["WHO_AM_I"] = Reg("WHO_AM_I", 0x75, reset=who)
    if name != "MPU-6050":
        # MPU-6500/9250 power up with CLKSEL=1 and awake (register map: PWR_MGMT_1 reset 0x01)
        regs["PWR_MGMT_1"] = Reg("PWR_MGMT_1", 0x6B, reset=0x01)
    for r in extra:
        regs[r.name] = r
    return ChipSpec(
        name=name,
        family="mpu",
        who_am_i=who,
        addresses=(0x68, 0x69),
        regs=regs,
        fields=_MPU_FIELDS,
        accel_fs=_MPU_ACCEL_FS,
        gyro_fs=_MPU_GYRO_FS,
        fifo_bytes=fifo_bytes,
        frame_bytes=12,  # ACCEL_X,Y,Z then GYRO_X,Y,Z, each int16 big-endian
        big_endian=True,
        gyro_first=False,
        fs_fields=("AFS_SEL", "FS_SEL"),
        fifo_data="FIFO_R_W",  # burst reads of FIFO_R_W keep popping the FIFO
        fifo_word=1,
    )


MPU6050 = _mpu("MPU-6050", 0x68, 1024)
MPU6500 = _mpu("MPU-6500", 0x70, 512, (Reg("ACCEL_CONFIG2", 0x1D),))
MPU9250 = _mpu("MPU-9250", 0x71, 512, (Reg("ACCEL_CONFIG2", 0x1D),))

# ---------------------------------------------------------------- ST LSM6DS family
# ODR code -> Hz, CTRL1_XL/CTRL2_G ODR field and the FIFO ODR/BDR fields share it
_ST_ODR = {1: 12.5, 2: 26.0, 3: 52.0, 4: 104.0, 5: 208.0, 6: 416.0, 7: 833.0, 8: 1666.0}
_ST_ACCEL_FS = {2: (0, 1 / 0.061e-3), 16: (1, 1 / 0.488e-3), 4: (2, 1 / 0.122e-3), 8: (3, 1 / 0.244e-3)}
_ST_GYRO_FS = {250: (0, 1 / 8.75e-3), 500: (1, 1 / 17.5e-3), 1000: (2, 1 / 35e-3), 2000: (3, 1 / 70e-3)}
_ST_COMMON_REGS = (
    Reg("WHO_AM_I", 0x0F),
    Reg("CTRL1_XL", 0x10),
    Reg("CTRL2_G", 0x11),
    Reg("CTRL3_C", 0x12, reset=0x04),  # IF_INC=1 at reset
    Reg("STATUS_REG", 0x1E),
    Reg("OUTX_L_G", 0x22),  # 0x22..0x27 gyro X,Y,Z then 0x28..0x2D accel, little-endian
    Reg("OUTX_L_XL", 0x28),
    Reg("FIFO_STATUS1", 0x3A),
    Reg("FIFO_STATUS2", 0x3B),
)
_ST_COMMON_FIELDS = {
    "ODR_XL": Field("CTRL1_XL", 4, 4),
    "FS_XL": Field("CTRL1_XL", 2, 2),
    "ODR_G": Field("CTRL2_G", 4, 4),
    "FS_G": Field("CTRL2_G", 2, 2),
    "BOOT": Field("CTRL3_C", 7),
    "BDU": Field("CTRL3_C", 6),
    "IF_INC": Field("CTRL3_C", 2),
    "SW_RESET": Field("CTRL3_C", 0),  # self-clearing
}


def _st(name: str, family: str, who: int, fifo_regs: tuple[Reg, ...], fifo_fields: dict[str, Field],
        fifo_bytes: int, frame_bytes: int, fifo_data: str, fifo_word: int) -> ChipSpec:
    """An LSM6DS chip: the common registers plus its own FIFO registers and fields."""
    return ChipSpec(
        name=name,
        family=family,
        who_am_i=who,
        addresses=(0x6A, 0x6B),
        regs=_regs(*_ST_COMMON_REGS, *fifo_regs) | {"WHO_AM_I": Reg("WHO_AM_I", 0x0F, reset=who)},
        fields=_ST_COMMON_FIELDS | fifo_fields,
        accel_fs=_ST_ACCEL_FS,
        gyro_fs=_ST_GYRO_FS,
        fifo_bytes=fifo_bytes,
        frame_bytes=frame_bytes,
        big_endian=False,
        gyro_first=True,
        fs_fields=("FS_XL", "FS_G"),
        fifo_data=fifo_data,
        fifo_word=fifo_word,
        odr_codes=_ST_ODR,
    )


LSM6DS3 = _st(
    "LSM6DS3",
    "lsm6ds3",
    0x69,
    (
        Reg("FIFO_CTRL1", 0x06),
        Reg("FIFO_CTRL2", 0x07),
        Reg("FIFO_CTRL3", 0x08),
        Reg("FIFO_CTRL4", 0x09),
        Reg("FIFO_CTRL5", 0x0A),
        Reg("FIFO_STATUS3", 0x3C),
        Reg("FIFO_STATUS4", 0x3D),
        Reg("FIFO_DATA_OUT_L", 0x3E),
        Reg("FIFO_DATA_OUT_H", 0x3F),
    ),
    {
        "DEC_FIFO_GYRO": Field("FIFO_CTRL3", 3, 3),  # 001 = no decimation
        "DEC_FIFO_XL": Field("FIFO_CTRL3", 0, 3),
        "ODR_FIFO": Field("FIFO_CTRL5", 3, 4),
        "FIFO_MODE": Field("FIFO_CTRL5", 0, 3),  # 000 bypass, 110 continuous
        "DIFF_FIFO_H": Field("FIFO_STATUS2", 0, 4),  # DIFF_FIFO[11:8], in 16-bit words
        "FIFO_EMPTY": Field("FIFO_STATUS2", 4),
        "FIFO_FULL": Field("FIFO_STATUS2", 5),
        "FIFO_OVER_RUN": Field("FIFO_STATUS2", 6),
        "FTH": Field("FIFO_STATUS2", 7),
    },
    fifo_bytes=8192,  # 4096 words
    frame_bytes=12,  # pattern Gx Gy Gz XLx XLy XLz, int16 little-endian words
    fifo_data="FIFO_DATA_OUT_L",  # 0x3F rolls back to 0x3E
    fifo_word=2,
)

LSM6DSO = _st(
    "LSM6DSO",  # LSM6DSOX answers the same WHO_AM_I
    "lsm6dso",
    0x6C,
    (
        Reg("FIFO_CTRL1", 0x07),
        Reg("FIFO_CTRL2", 0x08),
        Reg("FIFO_CTRL3", 0x09),
        Reg("FIFO_CTRL4", 0x0A),
        Reg("FIFO_DATA_OUT_TAG", 0x78),  # 0x78 tag, 0x79..0x7E X,Y,Z little-endian
    ),
    {
        "BDR_GY": Field("FIFO_CTRL3", 4, 4),
        "BDR_XL": Field("FIFO_CTRL3", 0, 4),
        "FIFO_MODE": Field("FIFO_CTRL4", 0, 3),  # 000 bypass, 110 continuous
        "DIFF_FIFO_H": Field("FIFO_STATUS2", 0, 2),  # DIFF_FIFO[9:8], in 7-byte words
        "FIFO_OVR_LATCHED": Field("FIFO_STATUS2", 3),
        "FIFO_FULL_IA": Field("FIFO_STATUS2", 5),
        "FIFO_OVR_IA": Field("FIFO_STATUS2", 6),
        "FIFO_WTM_IA": Field("FIFO_STATUS2", 7),
    },
    fifo_bytes=512 * 7,  # 512 tagged words modelled (the FIFO holds up to 9 KB incl. tags)
    frame_bytes=14,  # one gyro word + one accel word, each tag + 3 x int16 LE
    fifo_data="FIFO_DATA_OUT_TAG",  # 0x7E rolls back to the tag of the next word
    fifo_word=7,
)
LSM6DSO_TAG_GYRO = 0x01  # TAG_SENSOR codes (tag byte bits 7:3)
LSM6DSO_TAG_ACCEL = 0x02

CHIPS: dict[str, ChipSpec] = {
    "mpu6050": MPU6050,
    "mpu6500": MPU6500,
    "mpu9250": MPU9250,
    "lsm6ds3": LSM6DS3,
    "lsm6dso": LSM6DSO,
}
# Which WHO_AM_I register to probe at which addresses
PROBES: tuple[tuple[int, int], ...] = ((0x68, 0x75), (0x69, 0x75), (0x6A, 0x0F), (0x6B, 0x0F))


def spec_for_whoami(addr: int, who: int) -> ChipSpec | None:
    for spec in CHIPS.values():
        if addr in spec.addresses and spec.who_am_i == who:
            return spec
    return None
