# MicroPython-side helpers for the firmware tests (imported by the scripts run under the unix port).
import vfs

BLOCK = 4096


class RAMBlockDev:
    """A flash chip in RAM. After `writes_left` block writes it loses power: later writes are
    dropped and raise PowerCut, so the code under test stops exactly where a real box would."""

    def __init__(self, blocks=64, data=None):
        self.data = data if data is not None else bytearray(BLOCK * blocks)
        self.blocks = len(self.data) // BLOCK
        self.writes = 0
        self.writes_left = -1  # -1: never cut

    def readblocks(self, n, buf, off=0):
        start = n * BLOCK + off
        buf[:] = self.data[start : start + len(buf)]

    def writeblocks(self, n, buf, off=None):
        if self.writes_left == 0:
            raise PowerCut()
        if self.writes_left > 0:
            self.writes_left -= 1
        self.writes += 1
        start = n * BLOCK + (off or 0)
        self.data[start : start + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return self.blocks
        if op == 5:
            return BLOCK
        if op == 6:  # erase
            if self.writes_left == 0:
                raise PowerCut()
            self.data[arg * BLOCK : (arg + 1) * BLOCK] = b"\xff" * BLOCK
            return 0
        return 0


class PowerCut(BaseException):  # not an Exception: nothing in the firmware may catch it
    pass


def mount(bd, path="/flash", fresh=False):
    if fresh:
        vfs.VfsLfs2.mkfs(bd)
    try:
        vfs.umount(path)
    except OSError:
        pass
    vfs.mount(vfs.VfsLfs2(bd), path)  # type: ignore[abstract]
    return path + "/"


async def disconnect(c):
    """A clean MQTT DISCONNECT from the firmware's client c, then its socket closed: how a test
    leaves the broker (the box never does: its last will must fire when it goes)."""
    await c._send(bytearray([0xE0, 0]))
    c.close("disconnected")
