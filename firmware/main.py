# What the box runs at boot. releases.py picks the release (rel/boot.json, written by an update) and
# is dropped again; everything else lives in app.py so that tests can import it.
import sys

import releases

app, trial = releases.load_app("")
del releases
sys.modules.pop("releases")
app.run(trial)
