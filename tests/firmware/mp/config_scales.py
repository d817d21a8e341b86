# The firmware's scale table (config.SCALES).
# (run by tests/firmware/test_fw_config.py::test_scale_table_matches_schemas_scales_json)
import json

import config

print(json.dumps(config.SCALES))
