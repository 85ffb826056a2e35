"""Button, status LEDs and buzzer (gpiozero).

Off a Pi and under ``--sim`` the pins are gpiozero's mock pins. Mock pins do not debounce, and
a real button bounces for a few ms, so debouncing is done here (``ButtonLogic``, pure and
clock-injected): the debounced state changes only after the raw level has been stable for
``debounce_s``. Short press -> ``"short"`` (start/stop the session); held >= ``long_press_s``
-> ``"long"`` (calibrate), fired while still held so the user knows when to let go.

The buzzer is driven by a small schedule polled from the sampling loop (no background
threads): one beep per rep, two high beeps when the depth target is reached, and an optional
metronome tick for slow eccentrics.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Callable

BEEP_HZ = 2000
CUE_HZ = 3200
TICK_HZ = 1200


class ButtonLogic:
    def __init__(self, debounce_s: float = 0.05, long_press_s: float = 2.0):
        self.debounce_s = debounce_s
        self.long_press_s = long_press_s
        self.raw = False
        self.raw_t = float("-inf")
        self.pressed = False
        self.pressed_t = 0.0
        self.long_fired = False
        self._lock = threading.Lock()  # edges arrive on gpiozero's thread on real pins

    def edge(self, pressed: bool, t: float) -> None:
        with self._lock:
            if pressed != self.raw:
                self.raw = pressed
                self.raw_t = t

    def poll(self, t: float) -> list[str]:
        out: list[str] = []
        with self._lock:
            if self.raw != self.pressed and t - self.raw_t >= self.debounce_s:
                self.pressed = self.raw
                if self.pressed:
                    self.pressed_t = self.raw_t
                    self.long_fired = False
                elif not self.long_fired:
                    out.append("short")
            if self.pressed and not self.long_fired and t - self.pressed_t >= self.long_press_s:
                self.long_fired = True
                out.append("long")
        return out


def on_raspberry_pi() -> bool:
    try:
        return "raspberry pi" in Path("/proc/device-tree/model").read_text(errors="ignore").lower()
    except OSError:
        return False


def use_mock_pins() -> object:
    """Install gpiozero's mock factory with PWM-capable pins; returns it."""
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    Device.pin_factory = MockFactory(pin_class=MockPWMPin)
    return Device.pin_factory


class Feedback:
    """The physical UI. ``poll(now)`` returns button actions and advances the buzzer."""

    def __init__(self, pins: dict[str, int], clock: Callable[[], float] = time.monotonic, *,
                 debounce_s: float = 0.05, long_press_s: float = 2.0, beep_per_rep: bool = True,
                 metronome_bpm: float = 0.0):
        from gpiozero import LED, Button, DigitalOutputDevice, PWMOutputDevice

        self.clock = clock
        self.logic = ButtonLogic(debounce_s, long_press_s)
        self.button = Button(pins["button"], pull_up=True, bounce_time=None)
        self.button.when_pressed = lambda: self.logic.edge(True, self.clock())
        self.button.when_released = lambda: self.logic.edge(False, self.clock())
        self.led_connected = LED(pins["led_connected"])
        self.led_recording = LED(pins["led_recording"])
        self.led_error = LED(pins["led_error"])
        try:
            self.buzzer = PWMOutputDevice(pins["buzzer"], frequency=BEEP_HZ)
            self.pwm = True
        except Exception:  # a pin factory without PWM: drive an active buzzer on/off instead
            self.buzzer = DigitalOutputDevice(pins["buzzer"])
            self.pwm = False
        self.beep_per_rep = beep_per_rep
        self.metronome_bpm = metronome_bpm
        self._segments: list[tuple[float, float, int]] = []  # (t_on, t_off, hz)
        self._buzz_on = False
        self._next_tick = 0.0
        self._status = (None, None, None)
        self._now = float("-inf")  # latest time seen: a stale "now" must not cut a beep short

    # --- outputs -----------------------------------------------------------------------
    def set_status(self, connected: bool, recording: bool, error: bool) -> None:
        st = (connected, recording, error)
        if st == self._status:
            return  # only touch pins on change (keeps the pin history readable)
        self._status = st
        for led, on in ((self.led_connected, connected), (self.led_recording, recording), (self.led_error, error)):
            led.on() if on else led.off()

    def _schedule(self, now: float, pattern: list[tuple[float, float]], hz: int) -> None:
        """``pattern``: (offset_s, length_s) beeps starting ``now``; replaces pending ones."""
        self._segments = [(now + off, now + off + length, hz) for off, length in pattern]
        self._advance(now)

    def rep_beep(self, now: float | None = None) -> None:
        if self.beep_per_rep:
            self._schedule(self.clock() if now is None else now, [(0.0, 0.08)], BEEP_HZ)

    def depth_cue(self, now: float | None = None) -> None:
        self._schedule(self.clock() if now is None else now, [(0.0, 0.06), (0.12, 0.06)], CUE_HZ)

    def set_metronome(self, bpm: float) -> None:
        self.metronome_bpm = max(0.0, float(bpm))

    def _advance(self, now: float) -> None:
        now = self._now = max(now, self._now)
        while self._segments and self._segments[0][1] <= now:
            self._segments.pop(0)
        want = bool(self._segments) and self._segments[0][0] <= now
        if want and not self._buzz_on:
            if self.pwm:
                self.buzzer.frequency = self._segments[0][2]
                self.buzzer.value = 0.5  # square wave for a passive buzzer
            else:
                self.buzzer.on()
        elif not want and self._buzz_on:
            self.buzzer.off()
        self._buzz_on = want

    # --- the loop's side ------------------------------------------------------------------
    def poll(self, now: float | None = None, *, in_set: bool = False) -> list[str]:
        now = max(self.clock() if now is None else now, self._now)
        if self.metronome_bpm > 0 and in_set and not self._segments and now >= self._next_tick:
            self._next_tick = now + 60.0 / self.metronome_bpm
            self._schedule(now, [(0.0, 0.03)], TICK_HZ)
        self._advance(now)
        return self.logic.poll(now)

    def close(self) -> None:
        for dev in (self.button, self.led_connected, self.led_recording, self.led_error, self.buzzer):
            try:
                dev.close()
            except Exception:
                pass


def make_feedback(pins: dict[str, int], *, mock: bool, log: Callable[[str], None] | None = None,
                  **kw) -> Feedback | None:
    """Feedback on real or mock pins; None (the device runs without it) if GPIO is unusable."""
    log = log or (lambda m: print(m, file=sys.stderr))
    try:
        if mock or (not on_raspberry_pi() and not os.environ.get("GPIOZERO_PIN_FACTORY")):
            from gpiozero import Device
            from gpiozero.pins.mock import MockFactory

            if not isinstance(Device.pin_factory, MockFactory):
                use_mock_pins()
        return Feedback(pins, **kw)
    except Exception as e:  # GPIO busy / no permission / no factory: keep counting reps
        log(f"feedback: GPIO unavailable ({type(e).__name__}: {e}); running without button/LEDs/buzzer")
        return None
