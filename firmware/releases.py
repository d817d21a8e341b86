# The release slots on flash (firmware/README.md, Over-the-air update): the release provision put
# at the flash root (slot ""), and rel/a and rel/b, which ota.py fills. rel/boot.json says which to
# run: {"cur": slot, "good": slot to go back to, "tries": boots of cur while on trial}. main.py
# imports this module at boot, before any release is picked, so it is the root's copy that runs.
import json
import os
import sys

STATE = "rel/boot.json"
MAX_TRIES = 3  # boots of a release on trial without hearing the collector before it is rolled back


def read_state(root):
    try:
        with open(root + STATE) as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return {"cur": "", "good": "", "tries": 0}  # never updated: the release at the root


def save_state(root, cur, good, tries=0):
    """Atomic: a power cut leaves the old state or the new one (a LittleFS rename)."""
    tmp = root + STATE + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps({"cur": cur, "good": good, "tries": tries}))
    os.rename(tmp, root + STATE)


def folder(root, slot):
    return root + "rel/" + slot + "/" if slot else root


def pick(root):
    """(slot to run, on trial?). Counts this boot of a release on trial; after MAX_TRIES of them,
    goes back to the good release."""
    state = read_state(root)
    cur, good = state["cur"], state["good"]
    if cur != good:
        if state["tries"] >= MAX_TRIES:
            print("release %s: %d boots without the collector, back to %r" % (cur, MAX_TRIES, good))
            cur = good
            save_state(root, good, good)
        else:
            save_state(root, cur, good, state["tries"] + 1)
    return cur, cur != good


def load_app(root):
    """The app module of the release to run, and whether it is on trial. A release on trial that
    fails at import is left at once for the good one."""
    slot, trial = pick(root)
    before = list(sys.modules)
    where = folder(root, slot)[:-1]
    if slot:
        sys.path.insert(0, where)
    try:
        import app
        return app, trial
    except Exception as e:
        if not trial:
            raise
        print("release %s fails at import (%r): back to the previous one" % (slot, e))
        save_state(root, read_state(root)["good"], read_state(root)["good"])
        for name in list(sys.modules):
            if name not in before:
                sys.modules.pop(name)
        sys.path.remove(where)
        return load_app(root)


def boot():
    """main.py's one call: the app of the release to run and whether it is on trial. This module
    then leaves sys.modules, so that it holds no heap while the box runs (ota.py imports it again)."""
    found = load_app("")
    sys.modules.pop("releases", None)
    return found
