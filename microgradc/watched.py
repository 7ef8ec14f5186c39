"""Lists that tell the caches built from them that they changed.

A fused layer or an optimizer keeps, in C, an array of the node ids of Values that
sit in lists a user can reach and change (neuron.w, layer.neurons, mlp.layers,
opt.params). Each such list is a WatchedList: every change to one, and every
assignment of a watched attribute (changed()), moves one global generation counter
on. A cache remembers the generation it was built at and, when the counter has
moved, checks its source again before it is used: one integer comparison per use
while nothing changes, and never a stale id or a read past an array's end.
"""

_generation = [0]


def generation():
    """The number of changes to watched lists and attributes so far."""
    return _generation[0]


def changed():
    """Note a change: every cache checks its source again before its next use."""
    _generation[0] += 1


class WatchedList(list):
    """A list whose every change is noted (see changed())."""
    __slots__ = ()


def _watching(name):
    method = getattr(list, name)

    def watched(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        finally:  # a sort that raised part-way has changed the list too
            changed()
    watched.__name__ = name
    watched.__doc__ = method.__doc__
    return watched


for _name in ('__setitem__', '__delitem__', '__iadd__', '__imul__', 'append', 'extend',
              'insert', 'pop', 'remove', 'clear', 'sort', 'reverse'):
    setattr(WatchedList, _name, _watching(_name))
