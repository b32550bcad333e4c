#!/usr/bin/env python3
"""Instruction profile of a guest kernel from QEMU's own tracing, for docs/performance.md.

Run the guest with
    -icount shift=0,sleep=off -d exec,nochain,in_asm -dfilter LOW..HIGH -D trace.log
(LOW..HIGH: the kernel's virtual address range, e.g. 0xffffffff80000000..0xffffffffffffffff on
x86_64, 0xffff000000000000..0xffffffffffffffff on AArch64), then
    tools/qemu-tb-profile.py trace.log [FROM_FRACTION [KERNEL_ELF]]
prints, per function, the guest instructions executed: each translation block's instruction
count (from the in_asm listing) times its executions (the exec lines), credited to the function
the block starts in. FROM_FRACTION (0..1) skips that share of the log first, e.g. to leave out
boot; KERNEL_ELF names the functions (needed when QEMU booted a flat Image without symbols).
Demangle with rustfilt. The log grows by about 1 GB per second of guest time: profile short runs
(e.g. `bench quick ROW`).
"""
import bisect
import collections
import os
import subprocess
import sys


def main():
    log = sys.argv[1]
    start_at = os.path.getsize(log) * (float(sys.argv[2]) if len(sys.argv) > 2 else 0.0)
    tb_size, tb_name = {}, {}
    executions = collections.Counter()
    block_start = block_name = None
    count = 0
    pos = 0
    with open(log, 'rb') as f:
        for raw in f:
            pos += len(raw)
            line = raw.decode('latin-1')
            if line.startswith('IN:'):
                block_name, block_start, count = line[3:].strip(), None, 0
            elif line.startswith('0x') and block_name is not None:
                address, _, rest = line.partition(':')
                if block_start is None:
                    block_start = int(address, 16)
                # Continuation lines of long instructions carry only bytes, no mnemonic.
                if len(rest) > 27 and rest[27:].strip():
                    count += 1
            elif not line.strip() and block_start is not None:
                tb_size[block_start], tb_name[block_start] = count, block_name
                block_start = block_name = None
            elif line.startswith('Trace') and pos >= start_at:
                executions[int(line[line.index('[') + 1:].split('/')[1], 16)] += 1

    symbols = []
    if len(sys.argv) > 3:
        nm = subprocess.run(['nm', '-n', sys.argv[3]], capture_output=True, text=True).stdout
        for entry in nm.splitlines():
            parts = entry.split()
            if len(parts) == 3 and parts[1] in 'tTwW':
                symbols.append((int(parts[0], 16), parts[2]))
    addresses = [a for a, _ in symbols]

    def name(pc):
        if symbols:
            i = bisect.bisect_right(addresses, pc) - 1
            return symbols[i][1] if i >= 0 else '?'
        return tb_name.get(pc) or '?'

    per_function = collections.Counter()
    for pc, n in executions.items():
        per_function[name(pc)] += tb_size.get(pc, 0) * n
    total = sum(per_function.values())
    print(f'total instructions {total}')
    for function, n in per_function.most_common(60):
        print(f'{n:12d} {100 * n / max(total, 1):5.1f}%  {function[:150]}')


if __name__ == '__main__':
    main()
