"""kotdevice: a local-first shin-IMU wearable for knees-over-toes training.

Layers (one folder each):
- ``sensor``  hardware access: I2C drivers, register maps, the simulated bus.
- ``sim``     the athlete simulator (motion sources with ground truth).
- ``motion``  signal processing: fusion, mount calibration, rep counting. No I/O.
- ``device``  the runtime that wires them: store, MQTT, commands, feedback.
- ``kiosk``   the gym display.
- ``commands`` / ``bench``  the command line.
"""

__version__ = "0.1.0"
