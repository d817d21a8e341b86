# Flash full refuses the press and keeps the rest.
# (run by tests/firmware/test_fw_outbox.py::test_flash_full_refuses_the_press_and_keeps_the_rest)
import json

import mp_helpers
import outbox
import recover
from outbox_steps import drain

outbox.SEG_RECORDS = 64  # 1 KB files: too big to be inlined in LittleFS metadata
bd = mp_helpers.RAMBlockDev(blocks=8)  # 32 KB: full long before MAX_SEGMENTS
root = mp_helpers.mount(bd, fresh=True)
ob = recover.open_outbox(outbox, root)
stored, refused = [], 0
for i in range(800):
    try:
        stored.append(ob.append(1, i, 0, 0))
    except outbox.OutboxFull:
        refused += 1
root = mp_helpers.mount(mp_helpers.RAMBlockDev(data=bd.data))
print(
    json.dumps(
        {
            "stored": stored,
            "refused": refused,
            "count": ob.refused,
            "after_reboot": [r[0] for r in drain(recover.open_outbox(outbox, root))],
        }
    )
)
