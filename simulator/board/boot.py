# Entry point of a virtual box process (MicroPython unix port, run with -i so that an interrupted
# or crashed firmware leaves a REPL, as on a real box). Mounts the flash image at / like the ESP32
# and starts the firmware the way the ESP32's main.py does.
import os
import sys

import simhw  # the hardware must exist before the flash is mounted
import vfs

simhw.hw.send("boot", cause=simhw.hw.cause, box=simhw.hw.box)
vfs.umount("/")
vfs.mount(vfs.VfsLfs2(simhw.hw.flash), "/")
os.chdir("/")
sys.path[:] = ["", ".frozen", "/lib"]
del os, sys, vfs
import main  # noqa: F401
