# What the box runs at boot. releases.py picks the release (rel/boot.json, written by an update) and
# drops itself; everything else lives in app.py so that tests can import it.
import releases

app, trial = releases.boot()
del releases
app.run(trial)
