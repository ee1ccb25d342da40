"""A small QR code encoder (byte mode, error correction level L, versions 1-10) and its
drawing with half-block characters, so ``plat login`` can show the sign-in link to a phone.

Pure Python and standard library only, imported only when ``plat login`` draws a code: a
dependency for 200 lines was not worth its weight on a CLI whose start-up is a feature. The
construction follows ISO/IEC 18004 as Project Nayuki's reference implementation lays it out;
tests/cli/test_qr.py decodes what it draws with zbar.
"""

from __future__ import annotations

from collections.abc import Callable

# Per version 1-10, at level L: error correction codewords per block, number of blocks.
_ECC_PER_BLOCK = (7, 10, 15, 20, 26, 18, 20, 24, 30, 18)
_BLOCKS = (1, 1, 1, 1, 1, 2, 2, 2, 2, 4)
_MASK = 0  # (x + y) % 2: any mask decodes; the format bits say which one
QUIET = 2  # modules of margin around the code (4 in the standard; scanners manage with 2)


def _gf_mul(x: int, y: int) -> int:
    z = 0
    for i in reversed(range(8)):
        z = (z << 1) ^ ((z >> 7) * 0x11D)
        z ^= ((y >> i) & 1) * x
    return z


def _rs_divisor(degree: int) -> list[int]:
    result = [0] * (degree - 1) + [1]
    root = 1
    for _ in range(degree):
        for j in range(degree):
            result[j] = _gf_mul(result[j], root)
            if j + 1 < degree:
                result[j] ^= result[j + 1]
        root = _gf_mul(root, 0x02)
    return result


def _rs_remainder(data: list[int], divisor: list[int]) -> list[int]:
    result = [0] * len(divisor)
    for b in data:
        factor = b ^ result.pop(0)
        result.append(0)
        for i, coef in enumerate(divisor):
            result[i] ^= _gf_mul(coef, factor)
    return result


def _raw_modules(ver: int) -> int:
    result = (16 * ver + 128) * ver + 64
    if ver >= 2:
        n = ver // 7 + 2
        result -= (25 * n - 10) * n - 55
        if ver >= 7:
            result -= 36
    return result


def _data_codewords(ver: int) -> int:
    return _raw_modules(ver) // 8 - _ECC_PER_BLOCK[ver - 1] * _BLOCKS[ver - 1]


def _alignment_positions(ver: int) -> list[int]:
    if ver == 1:
        return []
    n = ver // 7 + 2
    step = (ver * 8 + n * 3 + 5) // (n * 4 - 4) * 2
    size = ver * 4 + 17
    return [6, *[size - 7 - i * step for i in range(n - 1)][::-1]]


def encode(text: str) -> list[list[bool]]:
    """The modules of ``text`` (True: dark), smallest version that holds it; ValueError past
    version 10 (271 bytes)."""
    data = text.encode()
    for ver in range(1, 11):
        count_bits = 8 if ver < 10 else 16
        if 4 + count_bits + 8 * len(data) <= _data_codewords(ver) * 8:
            break
    else:
        raise ValueError("too long for a terminal QR code")
    bits: list[int] = []

    def put(value: int, n: int) -> None:
        bits.extend((value >> i) & 1 for i in reversed(range(n)))

    put(0b0100, 4)
    put(len(data), count_bits)
    for b in data:
        put(b, 8)
    capacity = _data_codewords(ver) * 8
    put(0, min(4, capacity - len(bits)))
    put(0, -len(bits) % 8)
    pad = 0xEC
    while len(bits) < capacity:
        put(pad, 8)
        pad ^= 0xEC ^ 0x11
    codewords = [int("".join(map(str, bits[i:i + 8])), 2) for i in range(0, len(bits), 8)]
    return _place(ver, _interleave(ver, codewords))


def _interleave(ver: int, data: list[int]) -> list[int]:
    nblocks, ecc_len = _BLOCKS[ver - 1], _ECC_PER_BLOCK[ver - 1]
    raw = _raw_modules(ver) // 8
    nshort = nblocks - raw % nblocks
    short_len = raw // nblocks
    divisor = _rs_divisor(ecc_len)
    blocks, k = [], 0
    for i in range(nblocks):
        dat = data[k:k + short_len - ecc_len + (0 if i < nshort else 1)]
        k += len(dat)
        ecc = _rs_remainder(dat, divisor)
        if i < nshort:
            dat = [*dat, 0]
        blocks.append(dat + ecc)
    out = []
    for i in range(len(blocks[0])):
        for j, blk in enumerate(blocks):
            if i != short_len - ecc_len or j >= nshort:
                out.append(blk[i])
    return out


def _place(ver: int, codewords: list[int]) -> list[list[bool]]:
    size = ver * 4 + 17
    dark = [[False] * size for _ in range(size)]
    fixed = [[False] * size for _ in range(size)]

    def setf(x: int, y: int, on: bool) -> None:
        dark[y][x] = on
        fixed[y][x] = True

    for i in range(size):
        setf(6, i, i % 2 == 0)
        setf(i, 6, i % 2 == 0)
    for cx, cy in ((3, 3), (size - 4, 3), (3, size - 4)):
        for dy in range(-4, 5):
            for dx in range(-4, 5):
                x, y = cx + dx, cy + dy
                if 0 <= x < size and 0 <= y < size:
                    setf(x, y, max(abs(dx), abs(dy)) not in (2, 4))
    pos = _alignment_positions(ver)
    last = len(pos) - 1
    for i, ay in enumerate(pos):
        for j, ax in enumerate(pos):
            if (i, j) in ((0, 0), (0, last), (last, 0)):
                continue
            for dy in range(-2, 3):
                for dx in range(-2, 3):
                    setf(ax + dx, ay + dy, max(abs(dx), abs(dy)) != 1)
    _format(size, setf)
    if ver >= 7:
        rem = ver
        for _ in range(12):
            rem = (rem << 1) ^ ((rem >> 11) * 0x1F25)
        vbits = ver << 12 | rem
        for i in range(18):
            on = (vbits >> i) & 1 == 1
            a, b = size - 11 + i % 3, i // 3
            setf(a, b, on)
            setf(b, a, on)
    i, total = 0, len(codewords) * 8
    right = size - 1
    while right >= 1:
        if right == 6:
            right = 5
        for vert in range(size):
            for j in range(2):
                x = right - j
                upward = ((right + 1) & 2) == 0
                y = size - 1 - vert if upward else vert
                if not fixed[y][x] and i < total:
                    dark[y][x] = (codewords[i >> 3] >> (7 - (i & 7))) & 1 == 1
                    i += 1
        right -= 2
    for y in range(size):
        for x in range(size):
            if not fixed[y][x] and (x + y) % 2 == 0:
                dark[y][x] = not dark[y][x]
    return dark


def _format(size: int, put: Callable[[int, int, bool], None]) -> None:
    data = 1 << 3 | _MASK  # level L is 01
    rem = data
    for _ in range(10):
        rem = (rem << 1) ^ ((rem >> 9) * 0x537)
    bits = (data << 10 | rem) ^ 0x5412

    def bit(i: int) -> bool:
        return (bits >> i) & 1 == 1

    for i in range(6):
        put(8, i, bit(i))
    put(8, 7, bit(6))
    put(8, 8, bit(7))
    put(7, 8, bit(8))
    for i in range(9, 15):
        put(14 - i, 8, bit(i))
    for i in range(8):
        put(size - 1 - i, 8, bit(i))
    for i in range(8, 15):
        put(8, size - 15 + i, bit(i))
    put(8, size - 8, True)


def terminal_lines(text: str, columns: int) -> list[str]:
    """The code drawn with half blocks (two module rows per line), light modules as ink so it
    reads on the usual dark terminal; [] when it does not fit in ``columns``."""
    try:
        modules = encode(text)
    except ValueError:
        return []
    size = len(modules) + 2 * QUIET
    if size > columns:
        return []

    def light(x: int, y: int) -> bool:
        x, y = x - QUIET, y - QUIET
        inside = 0 <= x < len(modules) and 0 <= y < len(modules)
        return not (inside and modules[y][x])

    lines = []
    for y in range(0, size, 2):
        row = []
        for x in range(size):
            top, bottom = light(x, y), y + 1 < size and light(x, y + 1)
            row.append("█" if top and bottom else "▀" if top else "▄" if bottom else " ")
        lines.append("".join(row))
    return lines
