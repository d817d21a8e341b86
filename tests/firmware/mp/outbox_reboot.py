# Append ack order and reboot.
# (run by tests/firmware/test_fw_outbox.py::test_append_ack_order_and_reboot)
import json

import mp_helpers
import outbox
import recover
from outbox_steps import done, drain

bd = mp_helpers.RAMBlockDev()
root = mp_helpers.mount(bd, fresh=True)
boots = [recover.next_boot(outbox, root) for _ in range(3)]
ob = recover.open_outbox(outbox, root)
seqs = [ob.append(3, 1000 + i, i % 2, i % 3) for i in range(5)]
head = list(ob.peek())
done(ob, seqs[0])
done(ob, seqs[1])
done(ob, 99)  # not the head: ignored
ob._save_mark()  # persist the mark now, as MARK_EVERY confirmations or a drained queue would
root = mp_helpers.mount(bd)  # reboot
ob2 = recover.open_outbox(outbox, root)
big = 2**40 + 5  # uptime past 32 bits (box up for 35 years) survives
s6 = ob2.append(4, big, 1, 0)
print(
    json.dumps(
        {
            "boots": boots,
            "seqs": seqs,
            "head": head,
            "pending": ob2.pending,
            "left": drain(ob2),
            "s6": s6,
            "after": recover.open_outbox(outbox, root).pending,
        }
    )
)
