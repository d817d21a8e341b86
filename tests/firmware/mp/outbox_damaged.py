# Damaged record is skipped.
# (run by tests/firmware/test_fw_outbox.py::test_damaged_record_is_skipped)
import json

import mp_helpers
import outbox
import recover
from outbox_steps import drain

bd = mp_helpers.RAMBlockDev()
root = mp_helpers.mount(bd, fresh=True)
ob = recover.open_outbox(outbox, root)
for i in range(3):
    ob.append(1, i, 0, 0)
path = root + "ob/s0000000001"
with open(path, "rb") as f:
    raw = bytearray(f.read())
raw[16 + 5] ^= 0xFF  # flip bits in record 2
with open(path, "wb") as f:
    f.write(raw)
ob = recover.open_outbox(outbox, root)
print(json.dumps({"seqs": [r[0] for r in drain(ob)], "next": ob.next_seq}))
