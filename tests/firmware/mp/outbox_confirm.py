# A press stays until the collector confirms it.
# (run by tests/firmware/test_fw_outbox.py::test_a_press_stays_until_the_collector_confirms_it)
import json

import mp_helpers
import outbox
import recover
from outbox_steps import drain

bd = mp_helpers.RAMBlockDev()
root = mp_helpers.mount(bd, fresh=True)
ob = recover.open_outbox(outbox, root)
for i in range(6):
    ob.append(1, i, 0, 0)
for seq in (1, 2, 3, 4):
    ob.sent(seq)
after_puback = [ob.pending, ob.held, ob.peek()[0]]
gap = ob.confirm([1, 3])  # 3 stored, 2 not: 2 was lost after its PUBACK
mark = ob.acked
ob.rewind()
resend = [r[0] for r in drain(ob)]
early = recover.open_outbox(outbox, root)  # a confirmation for a press not sent yet waits for its PUBACK
early.append(1, 8, 0, 0)
early.append(1, 9, 0, 0)
no_gap = early.confirm([8])
early_mark = early.acked
early.sent(7)
early.confirm([7])
mark_7 = early.acked
early.sent(8)  # its PUBACK: now 8's earlier confirmation applies
ob2 = recover.open_outbox(outbox, root)
ob2.append(1, 10, 0, 0)
ob2.sent(ob2.peek()[0])
root = mp_helpers.mount(bd)  # reboot with it sent and not confirmed
kept = [r[0] for r in drain(recover.open_outbox(outbox, root))]
print(
    json.dumps(
        {
            "after_puback": after_puback,
            "gap": gap,
            "mark": mark,
            "resend": resend,
            "no_gap": no_gap,
            "early_mark": early_mark,
            "mark_7": mark_7,
            "late_mark": early.acked,
            "kept": kept,
        }
    )
)
