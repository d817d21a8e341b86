# A 256 KB LittleFS partition in RAM, as on the box (bench.firmware's scripts; the WebAssembly
# port, which has no LittleFS, never imports it).
class Flash:
    def __init__(self):
        self.data = bytearray(4096 * 64)

    def readblocks(self, n, buf, off=0):
        buf[:] = memoryview(self.data)[n * 4096 + off : n * 4096 + off + len(buf)]

    def writeblocks(self, n, buf, off=0):
        self.data[n * 4096 + off : n * 4096 + off + len(buf)] = buf

    def ioctl(self, op, arg):
        return {4: 64, 5: 4096}.get(op, 0)
