# Capacity 10000 presses in 256 kb.
# (run by tests/firmware/test_fw_outbox.py::test_capacity_10000_presses_in_256_kb)
import json
import os

import mp_helpers
import outbox
import recover
from outbox_steps import done

bd = mp_helpers.RAMBlockDev(blocks=64)  # 64 x 4 KB = 256 KB, the box's LittleFS partition size
root = mp_helpers.mount(bd, fresh=True)
with open(root + "config.json", "w") as f:
    f.write("x" * 1500)  # the config shares the partition
recover.next_boot(outbox, root)
ob = recover.open_outbox(outbox, root)
for i in range(10000):
    ob.append(1, i * 10, i % 2, 0)
st = os.statvfs(root[:-1])
root = mp_helpers.mount(bd)
ob = recover.open_outbox(outbox, root)
count, ordered = 0, True
r = ob.peek()
while r:
    count += 1
    ordered = ordered and r[0] == count
    done(ob, r[0])
    r = ob.peek()
print(
    json.dumps(
        {
            "pending": count,
            "ordered": ordered,
            "free_blocks": st[3],
            "refused": ob.refused,
            "files": sorted(os.listdir(root + "ob")),
        }
    )
)
