# The lockout after a counted press.
# (run by tests/firmware/test_fw_buttons.py)
import json

import buttons

lo = buttons.Lockout(4000)
print(json.dumps([lo.counts(t) for t in (1000, 1500, 4999, 5000, 5100, 9001, 9100)]))
