# Unsaved acks are resent not lost and seq never repeats.
# (run by tests/firmware/test_fw_outbox.py::test_unsaved_acks_are_resent_not_lost_and_seq_never_repeats)
import json

import mp_helpers
import outbox
import recover
from outbox_steps import done, drain

bd = mp_helpers.RAMBlockDev()
root = mp_helpers.mount(bd, fresh=True)
ob = recover.open_outbox(outbox, root)
for i in range(5):
    ob.append(1, i, 0, 0)
done(ob, 1)
done(ob, 2)
root = mp_helpers.mount(bd)
ob = recover.open_outbox(outbox, root)
print(json.dumps({"resent": [r[0] for r in drain(ob)], "next": ob.append(2, 0, 0, 0)}))
