"""Off a Pi, with fake-rpi standing in for RPi.GPIO, gpiozero's RPi.GPIO pin factory cannot
work (ECOSYSTEM.md: PinUnknownPi). The device must then run on without button/LEDs/buzzer
and keep counting and storing reps: feedback is a convenience, never a reason to stop."""
from __future__ import annotations

import sqlite3
import subprocess
import sys

PATCH = r"""
import os, sys
import fake_rpi  # prints a banner on stdout: keep it out of what we parse
sys.modules["RPi"] = fake_rpi.RPi
sys.modules["RPi.GPIO"] = fake_rpi.RPi.GPIO
os.environ["GPIOZERO_PIN_FACTORY"] = "rpigpio"
"""


def test_feedback_is_none_with_a_clear_line_when_gpio_is_unusable():
    code = PATCH + r"""
from kotdevice.device.feedback import make_feedback
lines = []
fb = make_feedback({"button": 17, "led_connected": 27, "led_recording": 22, "led_error": 23,
                    "buzzer": 18}, mock=False, log=lines.append)
print("RESULT", fb is None, "|".join(lines))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result = next(line for line in out.stdout.splitlines() if line.startswith("RESULT"))
    assert result.startswith("RESULT True ")
    assert "GPIO unavailable" in result and "running without button/LEDs/buzzer" in result


def test_device_counts_and_stores_reps_without_gpio(mosquitto, tmp_path):
    db = tmp_path / "dev.db"
    code = PATCH + f"""
from kotdevice.cli import main
sys.exit(main(["run", "--sim", "--speed", "20", "--duration", "60", "--quiet", "--no-jit",
               "--broker", "{mosquitto.address}", "--device-id", "kot-nogpio", "--store", r"{db}"]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "GPIO unavailable" in out.stderr
    with sqlite3.connect(db) as con:
        reps = con.execute("SELECT COUNT(*) FROM reps").fetchone()[0]
    assert reps >= 10  # the default workout's first set alone has 10 squats in the first minute
