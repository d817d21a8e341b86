# The pins a box without a valid config.json drives (config.DEFAULT_PINS).
# (run by tests/firmware/test_fw_pins.py)
import json

import config

print(json.dumps(config.DEFAULT_PINS))
