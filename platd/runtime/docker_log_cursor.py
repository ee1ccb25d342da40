"""Where a Docker log follow stands, as an opaque cursor that survives a platd restart.

A json-file reader resumes at the file's inode and byte offset: exact, no gap, no duplicate. A
reader that cannot seek to an exact place (the logs API, or a json-file replaced since the
cursor was taken) asks for lines since the newest timestamp it yielded and drops the lines
carrying that timestamp it already yielded. Pure: no I/O.
"""

from __future__ import annotations

from platd.runtime.docker_log_lines import Line


class Resume:
    """Where a follow stands: the newest timestamp yielded and how many lines carried it.

    A reader that cannot seek to an exact place (the logs API, or a json-file replaced since the
    cursor was taken) asks for lines since ``ts`` and drops the ``count`` it already yielded.
    """

    __slots__ = ("count", "inode", "offset", "skip_n", "skip_ts", "ts")

    def __init__(self, ts: int = 0, count: int = 0, inode: int = 0, offset: int = 0) -> None:
        self.ts, self.count, self.inode, self.offset = ts, count, inode, offset
        self.skip_ts: int | None = None
        self.skip_n = 0

    @classmethod
    def parse(cls, cursor: str | None) -> Resume:
        if not cursor:
            return cls()
        kind, *fields = cursor.split(":")
        try:
            numbers = [int(f) for f in fields]
            if kind == "json" and len(numbers) == 4:
                inode, offset, ts, count = numbers
                return cls(ts, count, inode, offset)
            if kind == "api" and len(numbers) == 2:
                return cls(numbers[0], numbers[1])
        except ValueError:
            pass
        return cls()

    def start_skipping(self) -> None:
        """The next lines repeat from ``ts`` on: drop what was already yielded."""
        if self.ts:
            self.skip_ts, self.skip_n = self.ts, self.count

    def accept(self, lines: list[Line]) -> list[Line]:
        """The lines not yielded before; remembers the newest timestamp among them."""
        if self.skip_ts is not None:
            kept: list[Line] = []
            for i, line in enumerate(lines):
                ts = line[0]
                if ts > self.skip_ts:  # past the repeated part: everything from here is new
                    self.skip_ts = None
                    kept.extend(lines[i:])
                    break
                if ts < self.skip_ts:
                    continue
                if self.skip_n > 0:
                    self.skip_n -= 1
                    continue
                kept.append(line)
            lines = kept
        top, count = self.ts, self.count
        for line in lines:
            ts = line[0]
            if ts > top:
                top, count = ts, 1
            elif ts == top:
                count += 1
        self.ts, self.count = top, count
        return lines

    def api_cursor(self) -> str:
        return f"api:{self.ts}:{self.count}"

    def file_cursor(self) -> str:
        return f"json:{self.inode}:{self.offset}:{self.ts}:{self.count}"
