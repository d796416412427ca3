#!/usr/bin/env python3
"""The rows bench/*.py appended to $BENCH_TABLE, as one markdown table
(medians; the ratio is pyrunc's to runc's)."""
import json
import sys

rows = [json.loads(line) for line in open(sys.argv[1])]
print("| command | pyrunc | runc | crun | pyrunc/runc | floor / other | goal |")
print("|---|---|---|---|---|---|---|")
notes = []
for r in rows:
    m, u = r["medians"], r["unit"]

    def cell(k):
        return f"{m[k]:.1f} {u}" if k in m else "—"
    ratio = f"{m['pyrunc'] / m['runc']:.2f}x" if m.get("runc") else "—"
    extra = ", ".join(f"{k} {v:.1f}" for k, v in m.items()
                      if k not in ("pyrunc", "runc", "crun"))
    crun = cell("crun") + ("*" if any(n.startswith("crun*") for n in r["notes"])
                           and "crun" in m else "")
    print(f"| {r['what']} | {cell('pyrunc')} | {cell('runc')} | {crun} | {ratio} | "
          f"{extra or '—'} | {r['goal'] or '—'} |")
    notes += [n for n in r["notes"] if n not in notes]
for n in notes:
    print(f"\n{n}")
