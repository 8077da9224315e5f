#!/usr/bin/env python3
"""Draw an eddy trace (Trace Event JSON) as an SVG timeline in event order.

    render.py TRACE.json [--var NAME] [--title TEXT] [-o OUT.svg]

Columns are events in the order they happened (their "seq"), not wall
time, so that a deterministic program draws the same picture on every
machine: no timestamps, no addresses, and tasks, threads and contexts
numbered in the order they first appear rather than by their ids.

One lane per task and per worker thread.  A grey box is a stretch of
running, labelled with the context it runs in; dots are events (spawn,
join, I/O, sets ...).  Under each lane, a band shows the value of the
chosen variable in the lane's context as it runs: what a get would
return there.  Arrows: spawn (blue), join (green; "merge" when the join
brought changes back), a call to a worker thread and its return (orange).

Standard library only.  docs/observe.md explains the pictures.
"""
import argparse
import json
import os
import sys
from xml.sax.saxutils import escape

COL_W = 44
LANE_H = 84
LEFT = 150
TOP = 130
PALETTE = ["#8ecae6", "#ffb703", "#90be6d", "#f28482", "#cdb4db",
           "#a3c4f3", "#f6bd60", "#84a59d"]
ARROW = {"spawn": "#1d4ed8", "join": "#15803d", "merge": "#7e22ce",
         "worker": "#c2410c"}
UNSET = None


def load(path):
    with open(path) as f:
        return json.load(f)["traceEvents"]


class Trace:
    """The events laid out in columns, with contexts and arrows resolved.

    Columns are a logical clock: an event sits one column right of the
    previous event of its lane, and a slice that an arrow enters sits
    right of the arrow's start.  Events of different threads that raced
    each other thus land in the same columns on every run, however the
    threads interleaved; only what one lane did, and what caused what,
    decides the picture.
    """

    def __init__(self, events, var):
        self.var = var
        self.names = {}
        for e in events:
            if e.get("ph") == "M" and e.get("name") == "thread_name":
                self.names[(e["pid"], e["tid"])] = e["args"]["name"]
        self.events = sorted((e for e in events if e.get("ph") != "M"),
                             key=lambda e: e["args"]["seq"])
        self.first = {}        # lane -> (column, seq) of its first event
        self.ctx_no = {}       # ctx id -> number by appearance
        self.ctx_vals = {}     # ctx id -> {var: value}
        self.width = 0         # columns
        self.slices = []       # (lane, first col, last col, ctx number)
        self.dots = []         # (lane, col, label)
        self.arrows = []       # [kind, from lane, col, to lane, col, label]
        self.points = {}       # lane -> [(col, value of var)]
        self._walk()
        self.lanes = sorted(self.first, key=lambda k: self.first[k])

    def ctx(self, cid):
        if cid not in self.ctx_no:
            self.ctx_no[cid] = len(self.ctx_no) + 1
            self.ctx_vals.setdefault(cid, {})
        return self.ctx_no[cid]

    def base(self, key):
        """A lane's name without its number: "worker", "thread", a task's
        given name, or "task"."""
        if key[0] == 2:
            return self.names.get(key, "thread").rsplit(" ", 1)[0]
        return self.names.get(key, "task").rsplit(" #", 1)[0]

    def label(self, key):
        """A lane's name, without the run-dependent id."""
        same = [k for k in self.lanes if self.base(k) == self.base(key)]
        if key[0] == 1 and self.base(key) != "task" and len(same) == 1:
            return self.base(key)
        return "%s %d" % (self.base(key), same.index(key) + 1)

    def _walk(self):
        evs = self.events
        # the slice each arrow enters: the lane's event just before the "f"
        incoming, last = {}, {}
        for i, e in enumerate(evs):
            key = (e["pid"], e["tid"])
            if e["ph"] == "f":
                if key in last:
                    incoming.setdefault(last[key], []).append(e["id"])
            elif e["ph"] != "s":
                last[key] = i
        lane_col, sources = {}, {}
        open_slice, lane_ctx, joins = {}, {}, {}
        for i, e in enumerate(evs):
            key, ph, a = (e["pid"], e["tid"]), e["ph"], e["args"]
            if ph == "s":
                kind = ("spawn", "join", "worker", "worker")[e["id"] % 4]
                sources[e["id"]] = (key, lane_col.get(key, 0), kind)
                continue
            if ph == "f":
                if e["id"] in sources:
                    fk, fc, kind = sources.pop(e["id"])
                    self.arrows.append([kind, fk, fc, key, lane_col[key],
                                        ""])
                    if kind == "join" or e["id"] % 4 == 3:
                        # a join, or a worker's return: merges follow
                        joins[key] = self.arrows[-1]
                continue
            col = lane_col.get(key, -1) + 1
            for fid in incoming.get(i, []):
                if fid in sources:
                    col = max(col, sources[fid][1] + 1)
            lane_col[key] = col
            self.width = max(self.width, col + 1)
            self.first.setdefault(key, (col, a["seq"]))
            if e["name"] == "context":
                # what the context held when its task first showed up
                self.ctx(a["ctx"])
                self.ctx_vals[a["ctx"]].update(a["values"])
                lane_col[key] = col - 1  # takes no column
                continue
            if ph == "B":
                lane_ctx[key] = a.get("ctx")
                open_slice[key] = col
                self.ctx(a.get("ctx"))
            elif ph == "E":
                first = open_slice.pop(key, 0)
                self.slices.append((key, first, col,
                                    self.ctx(lane_ctx.get(key))))
            else:
                self._instant(e, key, col, joins)
            if key in lane_ctx:
                vals = self.ctx_vals.get(lane_ctx[key], {})
                self.points.setdefault(key, []).append(
                    (col, vals.get(self.var, UNSET)))
            if ph == "E":
                lane_ctx.pop(key, None)
        for key, first in open_slice.items():
            self.slices.append((key, first, lane_col[key],
                                self.ctx(lane_ctx.get(key))))

    def _instant(self, e, key, col, joins):
        a, name = e["args"], e["name"]
        if name in ("spawn", "to_thread") and "ctx" in a:
            if a["ctx"] != a["from_ctx"]:
                self.ctx_vals[a["ctx"]] = dict(
                    self.ctx_vals.get(a["from_ctx"], {}))
            self.ctx(a["from_ctx"])
            self.ctx(a["ctx"])
            label = "%s (%s)" % (name, a["policy"])
        elif "var" in a:
            vals = self.ctx_vals.setdefault(a["ctx"], {})
            self.ctx(a["ctx"])
            verb = name.split(" ", 1)[0]
            if a.get("unset"):
                vals[a["var"]] = UNSET
                label = "%s %s (unset)" % (verb, a["var"])
            else:
                vals[a["var"]] = a.get("value", "(set)")
                label = "%s %s" % (verb, a["var"])
                if "value" in a:
                    label += "=" + a["value"]
            if verb == "merge" and key in joins:
                arrow = joins[key]
                arrow[0] = "merge"
                arrow[5] = (arrow[5] + ", " if arrow[5] else "merge ") + \
                    a["var"]
        elif name == "join":
            label = "join (%s)" % a["policy"]
        elif name == "to_thread returned":
            label = "returned"
        elif "fd" in a:
            label = "%s fd %d" % (name, a["fd"])
        else:
            label = name
        self.dots.append((key, col, label))


def color(value):
    """A colour per value, the same on every machine."""
    return PALETTE[sum(value.encode()) % len(PALETTE)]


def svg(t, title):
    width = LEFT + COL_W * (t.width + 1) + 200
    row = {key: i for i, key in enumerate(t.lanes)}
    height = TOP + 30 + LANE_H * len(t.lanes)
    y = lambda key: TOP + LANE_H * row[key] + 14
    x = lambda col: LEFT + COL_W * col + COL_W // 2
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif" font-size="11">' % (width, height),
           '<defs>']
    for kind, c in sorted(ARROW.items()):
        out.append('<marker id="%s" viewBox="0 0 10 10" refX="9" refY="5" '
                   'markerWidth="7" markerHeight="7" orient="auto">'
                   '<path d="M0,0 L10,5 L0,10 z" fill="%s"/></marker>'
                   % (kind, c))
    out.append('</defs>')
    out.append('<rect width="100%" height="100%" fill="white"/>')
    out.append('<text x="10" y="20" font-size="14" font-weight="bold">%s'
               '</text>' % escape(title))
    out.append('<text x="10" y="38" fill="#555">events in order, left to '
               'right; band: the value of %s in the lane\'s context</text>'
               % escape(t.var))
    for key in t.lanes:
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#ddd"/>'
                   % (LEFT - 10, y(key) + 10, width - 10, y(key) + 10))
        out.append('<text x="10" y="%d" font-weight="bold">%s</text>'
                   % (y(key) + 14, escape(t.label(key))))
    # sorted, so that the file does not depend on how threads interleaved
    for ln, first, last, cno in sorted(t.slices,
                                       key=lambda s: (row[s[0]], s[1])):
        out.append('<rect x="%d" y="%d" width="%d" height="20" rx="3" '
                   'fill="#e5e7eb" stroke="#9ca3af"/>'
                   % (x(first) - 10, y(ln), x(last) - x(first) + 20))
        out.append('<text x="%d" y="%d" fill="#374151">ctx %d</text>'
                   % (x(first) - 8, y(ln) - 3, cno))
    values = set()
    for ln, first, last, _ in sorted(t.slices, key=lambda s: (row[s[0]],
                                                               s[1])):
        points = [p for p in t.points.get(ln, []) if first <= p[0] <= last]
        runs = []
        for col, v in points:
            if runs and runs[-1][2] == v:
                runs[-1][1] = col
            else:
                if runs:
                    runs[-1][1] = col - 1
                runs.append([col, col, v])
        if runs:
            runs[-1][1] = last
        for a, b, v in runs:
            text = "%s=%s" % (t.var, v) if v is not UNSET else \
                "%s unset" % t.var
            fill = color(v) if v is not UNSET else "#f3f4f6"
            values.add(v)
            out.append('<rect x="%d" y="%d" width="%d" height="12" '
                       'fill="%s"/>' % (x(a) - COL_W // 2, y(ln) + 24,
                                        COL_W * (b - a + 1), fill))
            if b > a:  # one column is too narrow for the text
                out.append('<text x="%d" y="%d" font-size="9">%s</text>'
                           % (x(a) - COL_W // 2 + 2, y(ln) + 34,
                              escape(text)))
    # under the title, left of the lanes: the labels above the dots rise
    # to the right, where a legend would hide them
    legend_x = 10
    for i, v in enumerate(sorted(values, key=lambda v: (v is not UNSET,
                                                        v or ""))):
        fill = color(v) if v is not UNSET else "#f3f4f6"
        text = "%s=%s" % (t.var, v) if v is not UNSET else "%s unset" % t.var
        out.append('<rect x="%d" y="%d" width="12" height="12" fill="%s" '
                   'stroke="#999"/>' % (legend_x, 50 + 16 * i, fill))
        out.append('<text x="%d" y="%d" font-size="10">%s</text>'
                   % (legend_x + 16, 60 + 16 * i, escape(text)))
    for ln, col, label in sorted(t.dots, key=lambda d: (row[d[0]], d[1],
                                                        d[2])):
        out.append('<circle cx="%d" cy="%d" r="4" fill="#111827"/>'
                   % (x(col), y(ln) + 10))
        out.append('<text x="%d" y="%d" font-size="9" transform="rotate(-30 '
                   '%d %d)">%s</text>' % (x(col) + 3, y(ln) - 14, x(col) + 3,
                                          y(ln) - 14, escape(label)))
    for kind, fl, fc, tl, tc, label in sorted(
            t.arrows, key=lambda a: (row[a[1]], a[2], row[a[3]], a[4])):
        if fl == tl:
            continue
        x1, y1, x2, y2 = x(fc), y(fl) + 10, x(tc), y(tl) + 10
        out.append('<path d="M%d,%d C%d,%d %d,%d %d,%d" fill="none" '
                   'stroke="%s" stroke-width="1.5" marker-end="url(#%s)"/>'
                   % (x1, y1, x1 + 12, (y1 + y2) // 2, x2 - 12,
                      (y1 + y2) // 2, x2, y2, ARROW[kind], kind))
        if label:
            out.append('<text x="%d" y="%d" font-size="9" fill="%s">%s'
                       '</text>' % ((x1 + x2) // 2 + 4, (y1 + y2) // 2,
                                    ARROW[kind], escape(label)))
    out.append('</svg>')
    return "\n".join(out) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("trace")
    p.add_argument("--var", default="user",
                   help="the context variable drawn along each lane")
    p.add_argument("--title", help="default: the trace's file name")
    p.add_argument("-o", "--output", help="default: standard output")
    args = p.parse_args()
    t = Trace(load(args.trace), args.var)
    text = svg(t, args.title or os.path.basename(args.trace))
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
