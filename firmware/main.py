# What the box runs at boot. Everything lives in app.py so that tests can import it.
import app

app.run()
