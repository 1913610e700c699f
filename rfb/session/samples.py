"""SampleRing: a viewer's last few thousand samples, kept where the collector never looks.

Each viewer keeps figures of its last 4096 frames (when each was acked or shown, its
publish -> ack or publish -> drawn latency, its size). Kept as deques of floats and tuples,
every sample is a Python object that each full garbage collection visits: with 500 viewers
that is millions of objects once they fill, and a full collection held the server's event
loop twice as long (112 against 47 ms over 500 viewers' state, every viewer's frame late
at once).
Here they are rows of plain doubles in one ``array('d')``, which the collector does not track.
"""

from __future__ import annotations

from array import array


class SampleRing:
    """The last ``capacity`` samples, each (time, value, size), the oldest overwritten.

    One ``array('d')`` of rows (time, value, size side by side: an append touches one
    cache line), grown as samples come until it holds ``capacity``. Times are expected in
    the order they come (a clock's); ``since`` reads back from the newest. Sizes are kept
    as floats (exact for integers below 2**53)."""

    __slots__ = ("_count", "_data", "_next", "capacity")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._data = array("d")
        self._next = 0  # the row the next sample goes in
        self._count = 0

    def append(self, t: float, value: float, size: float = 0.0) -> None:
        i = self._next
        if self._count < self.capacity:  # still growing: rows are added at the end
            self._data.extend((t, value, size))
            self._count += 1
        else:
            data, j = self._data, 3 * i
            data[j] = t
            data[j + 1] = value
            data[j + 2] = size
        i += 1
        self._next = 0 if i == self.capacity else i

    def __len__(self) -> int:
        return self._count

    def since(self, start: float) -> int:
        """How many of the newest samples have a time at or after ``start`` (read back from
        the newest until one is older: the figures ask each second for about a second)."""
        data, rows = self._data, self._count
        i = self._next
        n = 0
        while n < rows:
            i = i - 1 if i else rows - 1
            if data[3 * i] < start:
                break
            n += 1
        return n

    def values(self, last: int | None = None) -> list[float]:
        """The values of the newest ``last`` samples (all by default), oldest first."""
        return self._newest(1, last)

    def sizes(self, last: int | None = None) -> list[float]:
        """The sizes of the newest ``last`` samples (all by default), oldest first."""
        return self._newest(2, last)

    def _newest(self, column: int, last: int | None) -> list[float]:
        rows = self._count
        n = rows if last is None else max(0, min(last, rows))
        end = self._next if rows == self.capacity else rows  # one past the newest row
        first = end - n
        data = self._data
        if first >= 0:
            return data[3 * first + column : 3 * end : 3].tolist()
        older = data[3 * (first + rows) + column :: 3].tolist()
        return older + data[column : 3 * end : 3].tolist()
