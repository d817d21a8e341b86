# A config.json missing, then one that is not JSON: their error codes.
# (run by tests/firmware/test_fw_config.py::test_missing_and_broken_files)
import json

import config

out = []
for path, text in (("absent.json", None), ("broken.json", "{not json")):
    if text is not None:
        with open(path, "w") as f:
            f.write(text)
    try:
        config.load(path)
    except config.ConfigError as e:
        out.append(e.code)
print(json.dumps(out))
