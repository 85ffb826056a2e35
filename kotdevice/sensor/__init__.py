"""The sensor layer: IMU drivers over I2C (real or simulated) and the chip emulator.

```python
from kotdevice.sensor import open_sensor, SimBus, SimClock, make_sim_bus, FileSource
bus = make_sim_bus(chip="mpu6050", source=blocks, clock=SimClock())
sensor = open_sensor(bus, odr_hz=200, clock=bus.clock)
block, gaps = sensor.read()
```
"""
from kotdevice.sensor.driver import (
    Sensor,
    SensorStats,
    detect,
    iter_blocks,
    open_real_bus,
    open_sensor,
)
from kotdevice.sensor.simbus import FaultConfig, SimBus, SimClock, make_sim_bus
from kotdevice.sensor.sources import FileSource, StillSource

__all__ = [
    "FaultConfig",
    "FileSource",
    "Sensor",
    "SensorStats",
    "SimBus",
    "SimClock",
    "StillSource",
    "detect",
    "iter_blocks",
    "make_sim_bus",
    "open_real_bus",
    "open_sensor",
]
