from gpiozero import Device

from kotdevice.device.feedback import ButtonLogic, Feedback

# fixtures fake_clock, mock_pins, pin_numbers: tests/conftest.py


def test_bounces_make_one_short_press():
    b = ButtonLogic(debounce_s=0.05, long_press_s=2.0)
    for t, level in [(0.000, True), (0.003, False), (0.006, True), (0.009, False), (0.012, True)]:
        b.edge(level, t)
        assert b.poll(t) == []
    assert b.poll(0.07) == []  # pressed now (stable 58 ms), nothing fires on press
    assert b.pressed
    for t, level in [(0.500, False), (0.502, True), (0.504, False)]:
        b.edge(level, t)
        assert b.poll(t) == []
    assert b.poll(0.56) == ["short"]
    assert b.poll(0.60) == []


def test_glitch_shorter_than_debounce_is_ignored():
    b = ButtonLogic(debounce_s=0.05)
    b.edge(True, 1.0)
    b.edge(False, 1.01)
    assert b.poll(1.2) == [] and not b.pressed


def test_long_press_fires_once_while_held_and_not_short_on_release():
    b = ButtonLogic(debounce_s=0.05, long_press_s=2.0)
    b.edge(True, 0.0)
    assert b.poll(0.1) == []
    assert b.poll(1.9) == []
    assert b.poll(2.01) == ["long"]
    assert b.poll(3.0) == []
    b.edge(False, 3.5)
    assert b.poll(3.6) == []


def test_mock_button_and_outputs(mock_pins, pin_numbers, fake_clock):
    clock = fake_clock
    fb = Feedback(pin_numbers, clock=clock)
    try:
        fb.button.pin.drive_low()  # press
        clock.t = 0.1
        assert fb.poll() == []
        clock.t = 0.3
        fb.button.pin.drive_high()
        clock.t = 0.4
        assert fb.poll() == ["short"]

        # one beep per rep: the buzzer pin goes on, then off after the beep
        fb.rep_beep()
        assert fb.buzzer.pin.state == 0.5
        clock.t = 0.6
        fb.poll()
        assert fb.buzzer.pin.state == 0
        fb.rep_beep()
        clock.t = 0.7
        fb.poll()
        states = [s.state for s in fb.buzzer.pin.states]
        assert states.count(0.5) == 2 and states[-1] == 0

        # the depth cue is distinct: two beeps at a higher pitch
        clock.t = 1.0
        fb.depth_cue()
        assert fb.buzzer.pin.frequency > 2000
        seen = []
        for k in range(30):
            clock.t = 1.0 + k * 0.01
            fb.poll()
            seen.append(fb.buzzer.pin.state)
        ons = sum(1 for a, b in zip(seen, seen[1:]) if a == 0 and b > 0)
        assert ons == 1 and seen[0] > 0  # on at once, off, on again -> two beeps

        fb.set_status(connected=True, recording=True, error=False)
        assert (fb.led_connected.pin.state, fb.led_recording.pin.state, fb.led_error.pin.state) == (1, 1, 0)
        fb.set_status(connected=False, recording=True, error=True)
        assert (fb.led_connected.pin.state, fb.led_error.pin.state) == (0, 1)
    finally:
        fb.close()


def test_metronome_ticks_only_in_a_set(mock_pins, pin_numbers, fake_clock):
    clock = fake_clock
    fb = Feedback(pin_numbers, clock=clock, metronome_bpm=60)
    try:
        ticks = 0
        prev = 0
        for k in range(400):  # 4 s at 10 ms
            clock.t = k * 0.01
            fb.poll(in_set=k >= 100)
            cur = fb.buzzer.pin.state
            ticks += prev == 0 and cur > 0
            prev = cur
        assert ticks == 3  # t = 1, 2, 3 s
    finally:
        fb.close()


def test_buzzer_falls_back_to_on_off_without_pwm(pin_numbers, fake_clock):
    from gpiozero.pins.mock import MockFactory

    Device.pin_factory = MockFactory()  # plain mock pins: no PWM
    try:
        clock = fake_clock
        fb = Feedback(pin_numbers, clock=clock)
        assert fb.pwm is False
        fb.rep_beep()
        assert fb.buzzer.pin.state == 1
        clock.t = 0.2
        fb.poll()
        assert fb.buzzer.pin.state == 0
        fb.close()
    finally:
        Device.pin_factory.reset()
        Device.pin_factory = None
