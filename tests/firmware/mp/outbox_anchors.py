# Anchors and boot counter persist.
# (run by tests/firmware/test_fw_outbox.py::test_anchors_and_boot_counter_persist)
import json

import mp_helpers
import outbox
import recover

bd = mp_helpers.RAMBlockDev()
root = mp_helpers.mount(bd, fresh=True)
recover.next_boot(outbox, root)
a = recover.load_anchors(root)
for boot in range(1, 12):
    outbox.save_anchor(root, a, boot, 100 * boot, 1700000000000 + boot, "sync")
root = mp_helpers.mount(bd)
b = recover.load_anchors(root)
print(json.dumps({"boots": sorted(b), "b11": list(b[11]), "boot": recover.next_boot(outbox, root)}))
