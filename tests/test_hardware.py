"""hardware/: the pin table agrees with the Pi header, the README, the device config defaults
and the sensor drivers; LED currents are safe; the enclosure drawing exists and shows the axes."""
from __future__ import annotations

import re
import struct
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
HW = REPO / "hardware"
PINS = tomllib.loads((HW / "pins.toml").read_text())

# The 40-pin header (all Pi models since the B+): physical pin -> BCM GPIO.
HEADER_TO_BCM = {3: 2, 5: 3, 7: 4, 8: 14, 10: 15, 11: 17, 12: 18, 13: 27, 15: 22, 16: 23, 18: 24,
                 19: 10, 21: 9, 22: 25, 23: 11, 24: 8, 26: 7, 27: 0, 28: 1, 29: 5, 31: 6, 32: 12,
                 33: 13, 35: 19, 36: 16, 37: 26, 38: 20, 40: 21}
GND_PINS = {6, 9, 14, 20, 25, 30, 34, 39}
V33_PINS = {1, 17}
PWM_BCM = {12, 13, 18, 19}


def default_pins() -> dict[str, int]:
    """The runtime's defaults if its config module is there, else firmware/config.toml.example."""
    try:
        from kotdevice.device import config
    except ImportError:
        return tomllib.loads((REPO / "firmware/config.toml.example").read_text())["pins"]
    return {k: config.SCHEMA[(s, k)][0] for (s, k) in config.SCHEMA if s == "pins"}


def test_pins_match_the_pi_header():
    for name, p in PINS["pins"].items():
        assert HEADER_TO_BCM.get(p["header"]) == p["bcm"], f"{name}: header pin {p['header']} is not GPIO{p['bcm']}"
        assert p["bcm"] not in (2, 3), f"{name} on an I2C pin"
    bcms = [p["bcm"] for p in PINS["pins"].values()]
    assert len(bcms) == len(set(bcms)), "two signals on one GPIO"
    assert PINS["pins"]["buzzer"]["bcm"] in PWM_BCM
    h = PINS["header"]
    assert h["3v3"] in V33_PINS
    assert {h[k] for k in h if k.startswith("gnd")} <= GND_PINS
    assert HEADER_TO_BCM[h["sda"]["header"]] == h["sda"]["bcm"] == 2
    assert HEADER_TO_BCM[h["scl"]["header"]] == h["scl"]["bcm"] == 3


def test_pins_agree_with_the_device_config_defaults():
    defaults = default_pins()
    ours = {p["config"].split(".", 1)[1]: p["bcm"] for p in PINS["pins"].values() if p["config"]}
    assert ours == defaults


def test_shipped_example_config_agrees_too():
    example = tomllib.loads((REPO / "firmware/config.toml.example").read_text())
    assert example["pins"] == {p["config"].split(".", 1)[1]: p["bcm"] for p in PINS["pins"].values()}
    from kotdevice.device import config
    # Every key and default of the runtime's schema, nothing else (the store path is resolved
    # at start: "" there means /var/lib/kotdevice/kotdevice.db, spelled out in the example).
    cfg = config.parse(example, source="config.toml.example")
    for (section, key), (default, _) in config.SCHEMA.items():
        value = cfg.get(section, key)
        if (section, key) == ("store", "path"):
            assert value == config.DEFAULT_STORE_PATH
        else:
            assert value == default, f"{section}.{key}: example {value!r}, runtime default {default!r}"


def test_led_currents_are_safe_and_visible():
    for name, p in PINS["pins"].items():
        if "resistor_ohm" in p:
            i_ma = (3.3 - p["led_vf_v"]) / p["resistor_ohm"] * 1000
            assert 1.0 <= i_ma <= 8.0, f"{name}: {i_ma:.1f} mA"


def test_imu_wiring_uses_power_ground_i2c_and_the_interrupt_pin():
    from kotdevice.sensor import regmap

    int_header = PINS["pins"]["imu_int"]["header"]
    for name, imu in PINS["imu"].items():
        assert imu["VCC"] in V33_PINS, name  # 3.3 V only: the Pi's I2C is not 5 V tolerant
        assert imu["GND"] in GND_PINS, name
        assert HEADER_TO_BCM[imu["SDA"]] == 2 and HEADER_TO_BCM[imu["SCL"]] == 3, name
        assert imu.get("INT", imu.get("INT1")) == int_header, name
        assert imu[imu["address_pin"]] == "GND", name
        for drv in imu["drivers"]:
            spec = regmap.CHIPS[drv]
            assert imu["address_low"] in spec.addresses and imu["address_high"] in spec.addresses, (name, drv)
    # Every chip family the drivers support has a wiring entry.
    covered = {d for imu in PINS["imu"].values() for d in imu["drivers"]}
    assert covered == set(regmap.CHIPS)


def md_table(text: str, first_header: str) -> list[dict[str, str]]:
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(f"| {first_header} |"))
    head = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = []
    for ln in lines[start + 2:]:
        if not ln.startswith("|"):
            break
        rows.append(dict(zip(head, (c.strip() for c in ln.strip("|").split("|")))))
    return rows


def test_readme_pin_table_matches_pins_toml():
    rows = md_table((HW / "README.md").read_text(), "function")
    by_key = {r["config key"].strip("`"): r for r in rows if r["config key"]}
    for p in PINS["pins"].values():
        r = by_key.pop(p["config"])
        assert int(r["BCM"]) == p["bcm"] and int(r["header pin"]) == p["header"], p["config"]
        if "resistor_ohm" in p:
            assert f"{p['resistor_ohm']} Ω" in r["wiring"]
    assert not by_key
    i2c = {r["function"]: (int(r["BCM"]), int(r["header pin"])) for r in rows if not r["config key"]}
    assert i2c == {"I2C SDA": (2, 3), "I2C SCL": (3, 5)}


def test_readme_imu_table_matches_pins_toml():
    rows = md_table((HW / "README.md").read_text(), "breakout")
    assert len(rows) == len(PINS["imu"])
    for r, imu in zip(rows, PINS["imu"].values()):
        assert r["VCC"] == f"pin {imu['VCC']}" and r["GND"] == f"pin {imu['GND']}"
        assert r["SDA"] == f"pin {imu['SDA']}" and r["SCL"] == f"pin {imu['SCL']}"
        assert r["interrupt"].endswith(f"pin {imu.get('INT', imu.get('INT1'))}")
        assert f"(0x{imu['address_low']:02X})" in r["address pin"]


def test_enclosure_drawing_shows_the_three_axes():
    svg = ET.parse(HW / "enclosure.svg").getroot()
    texts = ["".join(t.itertext()) for t in svg.iter() if t.tag.endswith("text")]
    for axis in ("+X", "+Y", "+Z"):
        assert texts.count(axis) == 2, axis  # side view and front view
    png = (HW / "enclosure.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", png[16:24])
    assert w >= 800 and h >= 400


def test_drawing_script_reproduces_the_shipped_svg(tmp_path):
    r = subprocess.run([sys.executable, str(HW / "draw_enclosure.py"), str(tmp_path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    fresh = (tmp_path / "enclosure.svg").read_text()
    shipped = (HW / "enclosure.svg").read_text()
    # Compare the drawing, not the matplotlib version stamp.
    strip = lambda s: re.sub(r"<dc:title>.*?</dc:title>|Matplotlib v[\d.]+[^<]*", "", s, flags=re.S)  # noqa: E731
    assert strip(fresh) == strip(shipped), "run: python hardware/draw_enclosure.py"
