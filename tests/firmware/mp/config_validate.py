# config.validate() on each config of sys.argv[1].
# (run by tests/firmware/test_fw_config.py)
import json
import sys

import config

with open(sys.argv[1]) as f:
    cfgs = json.load(f)
out = []
for cfg in cfgs:
    try:
        c = config.validate(cfg)
        out.append(["ok", c["timings"]])
    except config.ConfigError as e:
        out.append([e.code, e.reason])
print(json.dumps(out))
