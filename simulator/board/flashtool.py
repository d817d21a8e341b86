# Host-side flash tool, run with the MicroPython unix port (LittleFS is built in):
#   flashtool.py mkfs IMAGE BLOCKS SRC_DIR   format IMAGE and copy every file of SRC_DIR into it
#   flashtool.py put IMAGE NAME SRC_FILE     write one file
#   flashtool.py ls IMAGE                    list the files (name size), one per line
#   flashtool.py get IMAGE NAME              print a file's content
import os
import sys

import vfs

sys.path.append(sys.path[0])
from simhw import FileBlockDevice


def _walk(path):
    for entry in os.ilistdir(path):
        name, kind = entry[0], entry[1]
        full = path.rstrip("/") + "/" + name
        if kind == 0x4000:
            yield from _walk(full)
        else:
            yield full, os.stat(full)[6]


def main(argv):
    cmd, image = argv[1], argv[2]
    if cmd == "mkfs":
        with open(image, "wb") as f:
            f.write(b"\xff" * 4096 * int(argv[3]))
        bd = FileBlockDevice(image)
        vfs.VfsLfs2.mkfs(bd)
        vfs.mount(vfs.VfsLfs2(bd), "/flash")
        src = argv[4]
        for name in sorted(os.listdir(src)):
            with open(src + "/" + name, "rb") as fin, open("/flash/" + name, "wb") as fout:
                fout.write(fin.read())
        vfs.umount("/flash")
        return
    bd = FileBlockDevice(image)
    if cmd == "put":
        vfs.mount(vfs.VfsLfs2(bd), "/flash")
        with open(argv[4], "rb") as fin, open("/flash/" + argv[3].lstrip("/"), "wb") as fout:
            fout.write(fin.read())
        vfs.umount("/flash")
        return
    vfs.mount(vfs.VfsLfs2(bd), "/flash", readonly=True)
    if cmd == "ls":
        for full, size in _walk("/flash"):
            print(full[len("/flash"):], size)
    elif cmd == "get":
        with open("/flash/" + argv[3].lstrip("/"), "rb") as f:
            sys.stdout.buffer.write(f.read())


main(sys.argv)
