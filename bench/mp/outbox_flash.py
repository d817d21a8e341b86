# bench.firmware's outbox script: the flash an outbox of 10,000 presses takes on a 256 KB LittleFS
# partition in RAM. Prints one JSON line.
import json
import os

import outbox
import recover
import vfs
from bench_flash import Flash

fl = Flash()
vfs.VfsLfs2.mkfs(fl)  # type: ignore[arg-type]  # the stubs miss the block device protocol
vfs.mount(vfs.VfsLfs2(fl), "/flash")  # type: ignore[abstract,arg-type]
st0 = os.statvfs("/flash")
recover.next_boot(outbox, "/flash/")
ob = recover.open_outbox(outbox, "/flash/")
for i in range(10000):
    ob.append(1, i * 1000, i % 2, 0)
st = os.statvfs("/flash")
print(json.dumps({"blocks": st[2], "free_empty": st0[3], "free": st[3], "bsize": st[0],
                  "pending": ob.pending}))
