"""The top module for P pixels a clock: P step instances per node, P-wide line buffers, gearbox FIFOs."""

from __future__ import annotations


import numpy as np
from hardcore.stream.schedule import NodeLayout, _FIFO_GROUPS, _SOURCE, _bits, fifo_depths
from hardcore.stream.wrapper import _Wrapper

__all__ = ["wrapper_text"]


# -- P pixels a clock ---------------------------------------------------------------------------------------


def _tap_offset(g: dict, pixels: int, row_length: int, slot: int, a: int, b: int) -> int:
    """How many positions before the group's newest tap (a, b) of the window of slot `slot` entered."""
    (kh, kw), (dh, dw) = g["kernel"], g["dilation"]
    return (pixels - 1 - slot) + (kh - 1 - a) * dh * row_length + (kw - 1 - b) * dw


def _line_buffer(g: dict, pixels: int) -> tuple[int, list[int], list[list[int]]]:
    """A window node's line buffer, P pixels a clock: (row length with dead positions, the offsets it keeps,
    each group's output slots).  Offset o is the position o before the newest; it is kept when a tap of
    a slot with outputs reads it or will read it some shifts later."""
    (kh, kw), (_, pw) = g["kernel"], g["padding"]
    made = _output_slots(g, pixels)
    row_length = len(made) * pixels
    taps = {_tap_offset(g, pixels, row_length, j, a, b) for j in set(j for m in made for j in m)
            for a in range(kh) for b in range(kw)}
    live = sorted({t - m * pixels for t in taps for m in range(t // pixels + 1)})
    return row_length, live, made


def _output_slots(g: dict, pixels: int) -> list[list[int]]:
    """For each group of `pixels` positions of a window node's padded row, the slots that are output columns."""
    (_, kw), (_, pw), (_, dw) = g["kernel"], g["padding"], g["dilation"]
    groups = -(-(g["width"] + 2 * pw) // pixels)
    columns = set((kw - 1) * dw + j * g["stride"][1] for j in range(g["out_width"]))
    return [[j for j in range(pixels) if q * pixels + j in columns] for q in range(groups)]


class _ParallelWrapper(_Wrapper):
    """The top module for P > 1 pixels a clock: P step instances per node, gearbox FIFOs between nodes.

    Every edge (producer -> consumer operand, and the last node -> a streamed
    output) is a FIFO of pixels: the producer writes `%n<k>` pixels (0..P,
    packed from slot 0 of `%o<k>`) at once when every FIFO it feeds has P
    free slots (`%w<k>`); the consumer pops `%pop<k>_<operand>` pixels (what
    it takes) from the FIFO's head slots.  The source writes P pixels a
    transfer, `s_axis_tdata`'s beat.
    """

    def __init__(self, name: str, layouts: list[NodeLayout], source: tuple[int, int, int, int], pixels: int):
        super().__init__(name, layouts, source)
        self.pixels = pixels
        self.count_bits = pixels.bit_length()          # a pixel count 0..P
        self.writable: dict[int, list[str]] = {}      # producer -> its FIFOs' "P free slots"

    def zext(self, value: str, width: int, new: int) -> str:
        return value if new == width else self.concat([(self.const(0, new - width), new - width), (value, width)])

    def table(self, index: str, values: list[int], index_bits: int, width: int) -> str:
        """values[index] for index in 0..len(values)-1, a constant per index (a mux per distinct value)."""
        common = max(set(values), key=values.count)
        result = self.const(common, width)
        for value in sorted(set(values) - {common}):
            members = [i for i, v in enumerate(values) if v == value]
            result = self.mux(self.in_set(index, members, index_bits), self.const(value, width), result, width)
        return result

    def at_least(self, count: str, count_width: int, needed: str) -> str:
        return self.emit(f"comb.icmp uge {count}, {self.zext(needed, self.count_bits, count_width)} : i{count_width}")

    def up_to_p(self, count: str, count_width: int) -> str:
        """min(count, P) as a pixel count."""
        p = self.pixels
        many = self.emit(f"comb.icmp uge {count}, {self.const(p, count_width)} : i{count_width}")
        return self.mux(many, self.const(p, self.count_bits), self.extract(count, 0, self.count_bits, count_width),
                        self.count_bits)

    def producer_of(self, producer: int) -> tuple[str, str, int, int, str]:
        """(written pixels, packed slots, element width, elements, name) of a producer (or the source)."""
        if producer == _SOURCE:
            return "%nsrc", "%s_axis_tdata", self.x_width, self.channels, "src"
        layout = self.layouts[producer]
        return f"%n{producer}", f"%o{producer}", layout.out_width, layout.out_elements, str(producer)

    def wire(self, value: str, bits: int, name: str) -> str:
        """`value` through a named wire, so that Verilog does not inline it where it cannot stand."""
        wire = self.emit(f"sv.wire : !hw.inout<i{bits}>", name)
        self.body.line(f"sv.assign {wire}, {value} : i{bits}")
        return self.emit(f"sv.read_inout {wire} : !hw.inout<i{bits}>")

    def slot_index(self, pointer: str, slot: int, bits: int, name: str) -> str:
        """pointer + slot, through a wire: an index expression inlined into an array index is 32 bits wide
        in Verilog's width rules (Verilator -Wall: WIDTH)."""
        if slot == 0:
            return pointer
        return self.wire(self.emit(f"comb.add {pointer}, {self.const(slot, bits)} : i{bits}"), bits, name)

    def gearbox(self, name: str, producer: int, pop: str, depth: int) -> tuple[str, int, object, int, int]:
        """A FIFO of `depth` pixels from `producer`, popping `pop` pixels a cycle; (count, its bits, head slot
        j's pixel as a function of j, element width, elements)."""
        written, data, width, elements, key = self.producer_of(producer)
        bits = width * elements
        p = self.pixels
        index_bits = _bits(depth)
        wide = index_bits + 1
        array = f"!hw.uarray<{depth}xi{bits}>"  # unpacked: reg [w-1:0] m [0:d-1], which Yosys 0.23 reads
        memory = self.emit(f"sv.reg : !hw.inout<{array}>", name)
        count_reg, count = self.register(f"{name}_count", wide, reset=0)
        write_reg, write = self.register(f"{name}_write", index_bits, reset=0)
        read_reg, read = self.register(f"{name}_read", index_bits, reset=0)
        self.writable.setdefault(producer, []).append(
            self.emit(f"comb.icmp ule {count}, {self.const(depth - p, wide)} : i{wide}"))
        for slot in range(p):
            at = self.slot_index(write, slot, index_bits, f"{name}_put{slot}")
            cell = self.emit(f"sv.array_index_inout {memory}[{at}] : !hw.inout<{array}>, i{index_bits}")
            more = self.emit(f"comb.icmp ugt {written}, {self.const(slot, self.count_bits)} : i{self.count_bits}")
            self.assign(cell, self.extract(data, slot * bits, bits, p * bits), bits, when=more)
        self.assign(write_reg, self.emit(
            f"comb.add {write}, {self.zext(written, self.count_bits, index_bits)} : i{index_bits}"), index_bits)
        self.assign(read_reg, self.emit(
            f"comb.add {read}, {self.zext(pop, self.count_bits, index_bits)} : i{index_bits}"), index_bits)
        grown = self.emit(f"comb.add {count}, {self.zext(written, self.count_bits, wide)} : i{wide}")
        self.assign(count_reg, self.emit(f"comb.sub {grown}, {self.zext(pop, self.count_bits, wide)} : i{wide}"),
                    wide)
        heads: dict[int, str] = {}

        def head(slot: int) -> str:  # built when first read: no unused wire
            if slot not in heads:
                at = self.slot_index(read, slot, index_bits, f"{name}_get{slot}")
                cell = self.emit(f"sv.array_index_inout {memory}[{at}] : !hw.inout<{array}>, i{index_bits}")
                heads[slot] = self.wire(self.emit(f"sv.read_inout {cell} : !hw.inout<i{bits}>"), bits,
                                        f"{name}_head{slot}")
            return heads[slot]
        return count, wide, head, width, elements

    def operand(self, node: NodeLayout, operand: int, depth: int) -> tuple[str, int, object, int]:
        """The FIFO on a node's operand; (count, its bits, head slot j as the step's elements, elements)."""
        k = node.index
        count, wide, head, width, elements = self.gearbox(f"node{k}_fifo{operand}", node.inputs[operand],
                                                          f"%pop{k}_{operand}", depth)
        return count, wide, lambda j: self.repack(head(j), elements, width, node.in_width), elements

    def outputs(self, node: NodeLayout, slots: list[str], count: str) -> None:
        """The node's writes: `count` pixels (named %n<k>) of `slots` (packed as %o<k>, slot 0 lowest)."""
        k = node.index
        self.emit(f"comb.or {count}, {self.const(0, self.count_bits)} : i{self.count_bits}", f"n{k}")
        self.emit(f"comb.concat {', '.join(reversed(slots))} : {', '.join([f'i{node.out_bits}'] * len(slots))}",
                  f"o{k}")

    def instances(self, node: NodeLayout, xs: list[str], x_bits: int, slots: list[int] | None = None) -> list[str]:
        """The node's step on each of `xs` (slot j's instance `node<k>_<j>`): their outputs."""
        return [self.emit(f'hw.instance "node{node.index}_{j}" @{node.module}(x: {x}: i{x_bits}) '
                          f"-> (y: i{node.out_bits})", f"y{node.index}_{j}")
                for j, x in zip(slots or range(len(xs)), xs)]

    def window(self, node: NodeLayout) -> None:
        g = node.geometry
        k, p = node.index, self.pixels
        nb = self.count_bits
        count, count_width, heads, channels = self.operand(node, 0, _FIFO_GROUPS * p)
        (kh, kw), (ph, pw), dh = g["kernel"], g["padding"], g["dilation"][0]
        height, width = g["height"], g["width"]
        padded_h, groups = height + 2 * ph, -(-(width + 2 * pw) // p)
        row_length, live, made = _line_buffer(g, p)
        stored = len(live)
        where = {o: i for i, o in enumerate(live)}  # a live offset's place in the register, the newest lowest
        pixel = channels * node.in_width
        group_bits = _bits(groups)
        pending_reg, pending = self.register(f"node{k}_pending", nb, reset=0)
        waiting = self.not_(self.eq(pending, 0, nb))
        fire = self.emit(f"comb.and {waiting}, %w{k} : i1", f"fire{k}")
        can_shift = self.or_(self.not_(waiting), fire)
        row, column, _, _ = self.counter2(f"node{k}", padded_h, groups, f"%advance{k}")
        row_inside = self.in_range(row, ph, ph + height, _bits(padded_h))
        inside = [len([c for c in range(q * p, q * p + p) if pw <= c < pw + width]) for q in range(groups)]
        needed = self.mux(row_inside, self.table(column, inside, group_bits, nb), self.const(0, nb), nb)
        advance = self.emit(f"comb.and {can_shift}, {self.at_least(count, count_width, needed)} : i1",
                            f"advance{k}")
        self.emit(f"comb.mux {advance}, {needed}, {self.const(0, nb)} : i{nb}", f"pop{k}_0")
        # slot j of group q is column q P + j: inside the image for q in [ceil((pw - j) / P), ceil((pw + W - j) / P));
        # the group holding column pw takes its pixels from the FIFO's head from slot 0 on
        pad = self.concat([(self.const(g["pad"], node.in_width), node.in_width)] * channels)
        first, offset = divmod(pw, p)
        line_reg, line = self.register(f"node{k}_line", stored * pixel)
        entries = []  # the register after a shift: offset o takes offset o - P, or slot P - 1 - o of the group
        for o in live:
            if o >= p:
                entries.append(self.extract(line, where[o - p] * pixel, pixel, stored * pixel))
                continue
            j = p - 1 - o
            low, high = max(-(-(pw - j) // p), 0), min(-(-(pw + width - j) // p), groups)
            if low >= high:
                entries.append(pad)
                continue
            taken = heads(j) if j < offset or offset == 0 else \
                self.mux(self.eq(column, first, group_bits), heads(j - offset), heads(j), pixel)
            here = self.and_(row_inside, self.in_range(column, low, high, group_bits))
            entries.append(self.mux(here, taken, pad, pixel))
        self.assign(line_reg, self.concat([(e, pixel) for e in reversed(entries)]), stored * pixel, when=advance)
        output_rows = [(kh - 1) * dh + i * g["stride"][0] for i in range(g["out_height"])]
        fresh = self.mux(self.in_set(row, output_rows, _bits(padded_h)),
                         self.table(column, [len(m) for m in made], group_bits, nb), self.const(0, nb), nb)
        self.assign(pending_reg, self.mux(advance, fresh, self.mux(fire, self.const(0, nb), pending, nb), nb), nb)
        windows = {}
        for j in sorted(set(j for m in made for j in m)):
            taps = [self.extract(line, where[_tap_offset(g, p, row_length, j, a, b)] * pixel, pixel, stored * pixel)
                    for a in range(kh) for b in range(kw)]
            windows[j] = self.concat([(t, pixel) for t in reversed(taps)])
        ys = dict(zip(windows, self.instances(node, list(windows.values()), pixel * kh * kw, list(windows))))
        slots, held = [], None
        for i in range(p):  # output slot i: the i-th output position of the group in the line buffer
            sources = [m[i] if i < len(m) else min(ys) for m in made]
            common = max(set(sources), key=sources.count)
            slot = ys[common]
            for j in sorted(set(sources) - {common}):
                if held is None:  # the group's column, when slots' sources differ between groups
                    held_reg, held = self.register(f"node{k}_group", group_bits)
                    self.assign(held_reg, column, group_bits, when=advance)
                members = [q for q, s in enumerate(sources) if s == j]
                slot = self.mux(self.in_set(held, members, group_bits), ys[j], slot, node.out_bits)
            slots.append(slot)
        self.outputs(node, slots, self.mux(fire, pending, self.const(0, nb), nb))

    def map(self, node: NodeLayout) -> None:
        k, nb = node.index, self.count_bits
        count, count_width, heads, channels = self.operand(node, 0, _FIFO_GROUPS * self.pixels)
        available = self.up_to_p(count, count_width)
        fire = self.emit(f"comb.and {self.not_(self.eq(count, 0, count_width))}, %w{k} : i1", f"fire{k}")
        taken = self.mux(fire, available, self.const(0, nb), nb)
        self.emit(f"comb.or {taken}, {self.const(0, nb)} : i{nb}", f"pop{k}_0")
        self.outputs(node, self.instances(node, [heads(j) for j in range(self.pixels)], channels * node.in_width),
                     taken)

    def join(self, node: NodeLayout, depths: dict) -> None:
        k, nb = node.index, self.count_bits
        operands = [self.operand(node, operand, depths[(k, operand)]) for operand in range(2)]
        counts = [self.up_to_p(count, width) for count, width, _, _ in operands]
        fewer = self.emit(f"comb.icmp ult {counts[1]}, {counts[0]} : i{nb}")
        available = self.mux(fewer, counts[1], counts[0], nb)
        fire = self.emit(f"comb.and {self.not_(self.eq(available, 0, nb))}, %w{k} : i1", f"fire{k}")
        taken = self.mux(fire, available, self.const(0, nb), nb)
        for operand in range(2):
            self.emit(f"comb.or {taken}, {self.const(0, nb)} : i{nb}", f"pop{k}_{operand}")
        half = node.in_width * operands[0][3]
        xs = [self.concat([(operands[1][2](j), half), (operands[0][2](j), half)]) for j in range(self.pixels)]
        self.outputs(node, self.instances(node, xs, 2 * half), taken)

    def tail(self, node: NodeLayout) -> None:
        g = node.geometry
        k, p, nb = node.index, self.pixels, self.count_bits
        count, count_width, head, channels = self.operand(node, 0, _FIFO_GROUPS * p)
        heads = [head(j) for j in range(p)]
        positions = g["height"] * g["width"]
        groups = -(-positions // p)
        rest = positions - (groups - 1) * p  # pixels of the frame's last group
        full_reg, full = self.register(f"node{k}_full", 1, reset=0)
        take = self.emit(f"comb.and {full}, %free{k} : i1", f"take{k}")
        free = self.output_stage(node, take, f"%y{k}")
        self.alias(free, f"free{k}")
        group, last = self.counter(f"node{k}_group", groups, f"%push{k}")
        size = self.mux(last, self.const(rest, nb), self.const(p, nb), nb) if rest != p else self.const(p, nb)
        push = self.emit(f"comb.and {self.or_(self.not_(full), take)}, {self.at_least(count, count_width, size)} : i1",
                         f"push{k}")
        self.emit(f"comb.mux {push}, {size}, {self.const(0, nb)} : i{nb}", f"pop{k}_0")
        completes = self.and_(push, last)
        self.assign(full_reg, self.or_(completes, self.and_(full, self.not_(take))), 1)
        pixel = channels * node.in_width
        if g["collect"] == "flat":
            buffer_reg, buffer = self.register(f"node{k}_frame", positions * pixel)

            def shifted(n):  # the frame after n more pixels, the newest lowest
                kept = [] if n == positions else [
                    (self.extract(buffer, 0, (positions - n) * pixel, positions * pixel), (positions - n) * pixel)]
                return self.concat(kept + [(head, pixel) for head in heads[:n]])
            value = shifted(rest) if groups == 1 else shifted(p) if rest == p else \
                self.mux(last, shifted(rest), shifted(p), positions * pixel)
            self.assign(buffer_reg, value, positions * pixel, when=push)
            elements = [self.extract(buffer, (positions - 1 - q) * pixel + c * node.in_width, node.in_width,
                                     positions * pixel) for c in range(channels) for q in range(positions)]
            x_bits = len(elements) * node.in_width
            x = self.concat([(e, node.in_width) for e in reversed(elements)])
        else:
            sums = []
            wide = node.in_width
            zero = self.const(0, wide)
            for c in range(channels):
                acc_reg, acc = self.register(f"node{k}_sum{c}", wide)
                self.resets.append(f"sv.passign {acc_reg}, {zero} : i{wide}")
                total = acc
                for j, head in enumerate(heads):
                    element = self.extract(head, c * wide, wide, pixel)
                    if j >= rest:
                        element = self.mux(last, zero, element, wide)
                    total = self.emit(f"comb.add {total}, {element} : i{wide}")
                self.assign(acc_reg, self.mux(last, zero, total, wide), wide, when=push)
                held_reg, held = self.register(f"node{k}_pooled{c}", wide)
                self.assign(held_reg, total, wide, when=completes)
                sums.append(held)
            x_bits = channels * wide
            x = self.concat([(s, wide) for s in reversed(sums)])
        self.instance(node, x, x_bits)

    def text(self, depths: dict) -> str:
        p, nb = self.pixels, self.count_bits
        for node in self.layouts:
            if node.kind == "window":
                self.window(node)
            elif node.kind == "map":
                self.map(node)
            elif node.kind == "join":
                self.join(node, depths)
            else:
                self.tail(node)
        last = self.layouts[-1]
        if last.kind == "tail":
            self.alias("%m_axis_tready", f"r{last.index}")
            out_valid, out_data, out_bits, out_last = f"%v{last.index}", f"%d{last.index}", last.out_bits, self.true
        else:
            # a streamed output: P pixels a transfer when its rows hold whole groups of P, else one
            rows, columns = last.grid()
            beat = p if columns % p == 0 else 1
            count, count_width, head, _, _ = self.gearbox("output_fifo", last.index, "%popout", _FIFO_GROUPS * p)
            out_valid = self.emit(f"comb.icmp uge {count}, {self.const(beat, count_width)} : i{count_width}")
            fire = self.and_(out_valid, "%m_axis_tready")
            self.emit(f"comb.mux {fire}, {self.const(beat, nb)}, {self.const(0, nb)} : i{nb}", "popout")
            out_bits = beat * last.out_bits
            out_data = self.concat([(head(j), last.out_bits) for j in reversed(range(beat))])
            _, out_last = self.counter("output_position", rows * columns // beat, fire)
        for producer, writable in self.writable.items():
            name = "wsrc" if producer == _SOURCE else f"w{producer}"
            self.alias(self.and_(*writable), name)
        # the source writes a beat of P pixels into the FIFOs of its readers
        take = self.and_("%s_axis_tvalid", "%wsrc")
        self.emit(f"comb.mux {take}, {self.const(p, nb)}, {self.const(0, nb)} : i{nb}", "nsrc")
        error = self.frame_error(take, self.height * self.width // p)
        return self.module_text(p * self.channels * self.x_width, "%wsrc", out_valid, out_data, out_bits, out_last,
                                error)


def wrapper_text(name: str, layouts: list[NodeLayout], source: tuple[int, int, int, int], pixels: int = 1) -> str:
    """The top module `name` (hw, comb, sv) around instances of `<name>_node0..`; `source` is the input
    image's (channels, height, width, element width), `pixels` the pixels a clock."""
    depths = fifo_depths(layouts, source[1] * source[2], pixels)
    if pixels == 1:
        return _Wrapper(name, layouts, source).text(depths)
    return _ParallelWrapper(name, layouts, source, pixels).text(depths)
