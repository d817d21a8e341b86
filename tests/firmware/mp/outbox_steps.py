# What the outbox scripts share: a press's good path and a drain, as the sender and the collector
# would do them.


def done(ob, seq):
    # what happens to a press that goes well: the broker's PUBACK, then the collector's confirmation
    ob.sent(seq)
    ob.confirm([seq])


def drain(ob):
    # every pending record, oldest first, delivered as the sender and the collector would
    out = []
    r = ob.peek()
    while r:
        out.append(list(r))
        done(ob, r[0])
        r = ob.peek()
    return out
