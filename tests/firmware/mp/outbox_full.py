# Full outbox refuses new presses and keeps every stored one.
# (run by tests/firmware/test_fw_outbox.py::test_full_outbox_refuses_new_presses_and_keeps_every_stored_one)
import json

import mp_helpers
import outbox
import recover
from outbox_steps import done, drain

outbox.SEG_RECORDS = 4
outbox.MAX_SEGMENTS = 3
bd = mp_helpers.RAMBlockDev(blocks=32)
root = mp_helpers.mount(bd, fresh=True)
ob = recover.open_outbox(outbox, root)
refused = []
for i in range(14):
    try:
        ob.append(1, i, 0, 0)
    except outbox.OutboxFull:
        refused.append(i)
full = [ob.refused, ob.pending, ob.next_seq]
first = ob.peek()[0]
done(ob, first)
done(ob, 2)
done(ob, 3)
done(ob, 4)  # the oldest segment is acknowledged: room again
after = ob.append(1, 99, 1, 0)
print(json.dumps({"refused": refused, "full": full, "after": after, "seqs": [r[0] for r in drain(ob)]}))
