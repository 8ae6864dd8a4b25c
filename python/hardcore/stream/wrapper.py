"""The top module of a streamed circuit, one pixel a clock: line buffers, stages, FIFOs and AXI4-Stream (CIRCT text)."""

from __future__ import annotations


import numpy as np

from hardcore.time_multiplex import _Text
from hardcore.stream.schedule import NodeLayout, _SOURCE, _bits


class _Wrapper:
    def __init__(self, name: str, layouts: list[NodeLayout], source: tuple[int, int, int, int]):
        self.name = name
        self.layouts = layouts
        self.channels, self.height, self.width, self.x_width = source
        self.body = _Text()
        self.ff: list[str] = []        # statements of the always_ff block
        self.resets: list[str] = []    # statements of its synchronous reset
        self.ready: dict[tuple[int, int], str] = {}  # (consumer, operand) -> its ready
        self.consumers: dict[int, list[tuple[int, int]]] = {}
        for node in layouts:
            for operand, producer in enumerate(node.inputs):
                self.consumers.setdefault(producer, []).append((node.index, operand))
        self.false = self.emit("hw.constant false")
        self.true = self.emit("hw.constant true")

    def emit(self, text: str, name: str | None = None) -> str:
        return self.body.emit(text, name)

    def const(self, value: int, width: int) -> str:
        return self.emit(f"hw.constant {value} : i{width}")

    def register(self, name: str, width: int, reset: int | None = None,
                 value_name: str | None = None) -> tuple[str, str]:
        """(the register, its value, named `value_name` if given); `reset` for a control register."""
        reg = self.emit(f"sv.reg : !hw.inout<i{width}>", name)
        if reset is not None:
            self.resets.append(f"sv.passign {reg}, {self.const(reset, width)} : i{width}")
        return reg, self.emit(f"sv.read_inout {reg} : !hw.inout<i{width}>", value_name)

    def assign(self, reg: str, value: str, width: int, when: str | None = None) -> None:
        line = f"sv.passign {reg}, {value} : i{width}"
        self.ff.append(line if when is None else f"sv.if {when} {{\n  {line}\n}}")

    def and_(self, *values: str) -> str:
        values = [v for v in values if v != self.true]
        if not values:
            return self.true
        return values[0] if len(values) == 1 else self.emit(f"comb.and {', '.join(values)} : i1")

    def or_(self, *values: str) -> str:
        if not values:
            return self.false
        return values[0] if len(values) == 1 else self.emit(f"comb.or {', '.join(values)} : i1")

    def not_(self, value: str) -> str:
        return self.emit(f"comb.xor {value}, {self.true} : i1")

    def mux(self, select: str, high: str, low: str, width: int) -> str:
        return self.emit(f"comb.mux {select}, {high}, {low} : i{width}")

    def eq(self, value: str, constant: int, width: int) -> str:
        return self.emit(f"comb.icmp eq {value}, {self.const(constant, width)} : i{width}")

    def extract(self, value: str, low: int, width: int, total: int) -> str:
        if low == 0 and width == total:
            return value
        return self.emit(f"comb.extract {value} from {low} : (i{total}) -> i{width}")

    def concat(self, parts: list[tuple[str, int]]) -> str:
        """parts: (value, bits), the first the most significant."""
        if len(parts) == 1:
            return parts[0][0]
        return self.emit(f"comb.concat {', '.join(v for v, _ in parts)} : {', '.join(f'i{b}' for _, b in parts)}")

    def resize(self, value: str, width: int, new: int) -> str:
        """A two's complement element `width` bits wide as `new` bits (sign extension or exact truncation)."""
        if new == width:
            return value
        if new < width:
            return self.extract(value, 0, new, width)
        sign = self.extract(value, width - 1, 1, width)
        return self.concat([(self.emit(f"comb.replicate {sign} : (i1) -> i{new - width}"), new - width),
                            (value, width)])

    def repack(self, value: str, count: int, width: int, new: int) -> str:
        """A vector of `count` elements of `width` bits as elements of `new` bits."""
        if new == width:
            return value
        elements = [self.resize(self.extract(value, i * width, width, count * width), width, new)
                    for i in range(count)]
        return self.concat([(e, new) for e in reversed(elements)])

    def counter(self, name: str, count: int, step: str) -> tuple[str, str]:
        """A counter 0..count-1 advancing when `step`; (its value, whether it is at count - 1)."""
        bits = _bits(count)
        reg, value = self.register(name, bits, reset=0)
        last = self.eq(value, count - 1, bits)
        following = self.emit(f"comb.add {value}, {self.const(1, bits)} : i{bits}")
        self.assign(reg, self.mux(last, self.const(0, bits), following, bits), bits, when=step)
        return value, last

    def counter2(self, name: str, rows: int, columns: int, step: str) -> tuple[str, str, str, str]:
        """Row and column counters over a rows x columns grid; (row, column, last column, last row)."""
        column, column_last = self.counter(f"{name}_col", columns, step)
        row, row_last = self.counter(f"{name}_row", rows, self.and_(step, column_last))
        return row, column, column_last, row_last

    def in_set(self, value: str, members: list[int], width: int) -> str:
        return self.or_(*[self.eq(value, m, width) for m in members])

    def in_range(self, value: str, low: int, high: int, width: int) -> str:
        """low <= value < high, unsigned."""
        checks = []
        if low > 0:
            checks.append(self.emit(f"comb.icmp uge {value}, {self.const(low, width)} : i{width}"))
        if high < 1 << width:
            checks.append(self.emit(f"comb.icmp ult {value}, {self.const(high, width)} : i{width}"))
        return self.and_(*checks)

    def alias(self, value: str, name: str) -> str:
        """A name for a 1-bit value, so that nodes can refer to each other's handshake before it is built."""
        return self.emit(f"comb.or {value}, {self.false} : i1", name)

    def instance(self, node: NodeLayout, x: str, x_bits: int) -> str:
        """The node's step on `x`: its output pixel, `%y<k>`."""
        return self.emit(f'hw.instance "node{node.index}" @{node.module}(x: {x}: i{x_bits}) '
                         f"-> (y: i{node.out_bits})", f"y{node.index}")

    # -- nodes: each defines %v{k}, %d{k} (valid, data) and uses %r{k} (its readers' ready)

    def input_of(self, node: NodeLayout, operand: int) -> tuple[str, str, int, int]:
        """(valid, data, element width, elements) of a node's operand; a producer read by several
        nodes hands a pixel on when all of them are ready (the others' ready gates this one's valid)."""
        producer = node.inputs[operand]
        if producer == _SOURCE:
            valid, data, width, elements = "%s_axis_tvalid", "%s_axis_tdata", self.x_width, self.channels
        else:
            layout = self.layouts[producer]
            valid, data, width, elements = f"%v{producer}", f"%d{producer}", layout.out_width, layout.out_elements
        others = [f"%rdy{c}_{o}" for c, o in self.consumers[producer] if (c, o) != (node.index, operand)]
        return self.and_(valid, *others), data, width, elements

    def output_stage(self, node: NodeLayout, fire: str, value: str) -> str:
        """The node's output register and valid: loaded with `value` when `fire`; returns whether it is free."""
        k = node.index
        free = self.or_(self.not_(f"%v{k}"), f"%r{k}")
        reg, _ = self.register(f"node{k}_out", node.out_bits, value_name=f"d{k}")
        valid_reg, valid = self.register(f"node{k}_valid", 1, reset=0, value_name=f"v{k}")
        self.assign(reg, value, node.out_bits, when=fire)
        keep = self.and_(valid, self.not_(f"%r{k}"))
        self.assign(valid_reg, self.or_(fire, keep), 1)
        return free

    def window(self, node: NodeLayout) -> None:
        g = node.geometry
        k = node.index
        valid, data, width, channels = self.input_of(node, 0)
        (kh, kw), (dh, dw), (ph, pw) = g["kernel"], g["dilation"], g["padding"]
        padded_h, padded_w = g["height"] + 2 * ph, g["width"] + 2 * pw
        span = (kh - 1) * dh * padded_w + (kw - 1) * dw + 1
        pixel = channels * node.in_width
        window_reg, window_valid = self.register(f"node{k}_window_valid", 1, reset=0)
        free = self.output_stage(node, self.emit(f"comb.and {window_valid}, %free{k} : i1", f"consume{k}"),
                                 f"%y{k}")
        self.alias(free, f"free{k}")
        can_shift = self.or_(self.not_(window_valid), f"%consume{k}")
        advance_name = f"advance{k}"
        row, column, _, _ = self.counter2(f"node{k}", padded_h, padded_w, f"%{advance_name}")
        interior = self.and_(self.in_range(row, ph, ph + g["height"], _bits(padded_h)),
                             self.in_range(column, pw, pw + g["width"], _bits(padded_w)))
        self.emit(f"comb.and {can_shift}, {interior} : i1", f"rdy{k}_0")
        self.ready[(k, 0)] = f"%rdy{k}_0"
        self.emit(f"comb.and {can_shift}, {self.or_(self.not_(interior), valid)} : i1", advance_name)
        pad = self.concat([(self.const(g["pad"], node.in_width), node.in_width)] * channels)
        incoming = self.mux(interior, self.repack(data, channels, width, node.in_width), pad, pixel)
        shift_reg, shift = self.register(f"node{k}_line", span * pixel)
        shifted = incoming if span == 1 else self.concat(
            [(self.extract(shift, 0, (span - 1) * pixel, span * pixel), (span - 1) * pixel), (incoming, pixel)])
        self.assign(shift_reg, shifted, span * pixel, when=f"%{advance_name}")
        output_rows = [(kh - 1) * dh + i * g["stride"][0] for i in range(g["out_height"])]
        output_columns = [(kw - 1) * dw + j * g["stride"][1] for j in range(g["out_width"])]
        done = self.and_(self.in_set(row, output_rows, _bits(padded_h)),
                         self.in_set(column, output_columns, _bits(padded_w)))
        next_valid = self.mux(f"%{advance_name}", done,
                              self.and_(window_valid, self.not_(f"%consume{k}")), 1)
        self.assign(window_reg, next_valid, 1)
        taps = []
        for a in range(kh):
            for b in range(kw):
                offset = (kh - 1 - a) * dh * padded_w + (kw - 1 - b) * dw
                taps.append(self.extract(shift, offset * pixel, pixel, span * pixel))
        x = self.concat([(t, pixel) for t in reversed(taps)])
        self.instance(node, x, pixel * kh * kw)

    def fifo(self, node: NodeLayout, operand: int, depth: int) -> tuple[str, str, int, int]:
        """A FIFO on a join's operand; (valid, data, width, elements) of its head, and its ready to the producer."""
        k = node.index
        valid, data, width, elements = self.input_of(node, operand)
        bits = width * elements
        index_bits = _bits(depth)
        name = f"node{k}_fifo{operand}"
        array = f"!hw.uarray<{depth}xi{bits}>"  # unpacked: reg [w-1:0] m [0:d-1], which Yosys 0.23 reads
        memory = self.emit(f"sv.reg : !hw.inout<{array}>", f"{name}")
        count_reg, count = self.register(f"{name}_count", index_bits + 1, reset=0)
        write_reg, write = self.register(f"{name}_write", index_bits, reset=0)
        read_reg, read = self.register(f"{name}_read", index_bits, reset=0)
        full = self.eq(count, depth, index_bits + 1)
        self.emit(f"comb.xor {full}, {self.true} : i1", f"rdy{k}_{operand}")
        self.ready[(k, operand)] = f"%rdy{k}_{operand}"
        push = self.and_(valid, f"%rdy{k}_{operand}")
        head_valid = self.not_(self.eq(count, 0, index_bits + 1))
        pop = self.and_(head_valid, f"%pop{k}")
        slot = self.emit(f"sv.array_index_inout {memory}[{write}] : !hw.inout<{array}>, i{index_bits}")
        self.assign(slot, data, bits, when=push)
        one = self.const(1, index_bits)
        self.assign(write_reg, self.emit(f"comb.add {write}, {one} : i{index_bits}"), index_bits, when=push)
        self.assign(read_reg, self.emit(f"comb.add {read}, {one} : i{index_bits}"), index_bits, when=pop)
        wide = index_bits + 1
        up = self.emit(f"comb.add {count}, {self.const(1, wide)} : i{wide}")
        down = self.emit(f"comb.sub {count}, {self.const(1, wide)} : i{wide}")
        changed = self.mux(push, up, down, wide)
        self.assign(count_reg, changed, wide, when=self.emit(f"comb.xor {push}, {pop} : i1"))
        head_slot = self.emit(f"sv.array_index_inout {memory}[{read}] : !hw.inout<{array}>, i{index_bits}")
        head = self.emit(f"sv.read_inout {head_slot} : !hw.inout<i{bits}>")
        return head_valid, head, width, elements

    def join(self, node: NodeLayout, depths: dict) -> None:
        k = node.index
        heads = [self.fifo(node, operand, depths[(k, operand)]) for operand in range(2)]
        both = self.and_(heads[0][0], heads[1][0])
        fire = self.emit(f"comb.and {both}, %free{k} : i1", f"pop{k}")
        free = self.output_stage(node, fire, f"%y{k}")
        self.alias(free, f"free{k}")
        channels = heads[0][3]
        parts = [self.repack(head[1], channels, head[2], node.in_width) for head in heads]
        bits = 2 * channels * node.in_width
        x = self.concat([(parts[1], bits // 2), (parts[0], bits // 2)])
        self.instance(node, x, bits)

    def map(self, node: NodeLayout) -> None:
        k = node.index
        valid, data, width, channels = self.input_of(node, 0)
        free = self.output_stage(node, self.emit(f"comb.and {valid}, %free{k} : i1"), f"%y{k}")
        self.alias(free, f"free{k}")
        self.alias(f"%free{k}", f"rdy{k}_0")
        self.ready[(k, 0)] = f"%rdy{k}_0"
        x = self.repack(data, channels, width, node.in_width)
        self.instance(node, x, channels * node.in_width)

    def tail(self, node: NodeLayout) -> None:
        g = node.geometry
        k = node.index
        valid, data, width, channels = self.input_of(node, 0)
        positions = g["height"] * g["width"]
        full_reg, full = self.register(f"node{k}_full", 1, reset=0)
        take = self.emit(f"comb.and {full}, %free{k} : i1", f"take{k}")
        free = self.output_stage(node, take, f"%y{k}")
        self.alias(free, f"free{k}")
        self.alias(self.or_(self.not_(full), take), f"rdy{k}_0")
        self.ready[(k, 0)] = f"%rdy{k}_0"
        push = self.and_(valid, f"%rdy{k}_0")
        _, last = self.counter(f"node{k}_position", positions, push)
        completes = self.and_(push, last)
        self.assign(full_reg, self.or_(completes, self.and_(full, self.not_(take))), 1)
        if g["collect"] == "flat":
            pixel = channels * width
            buffer_reg, buffer = self.register(f"node{k}_frame", positions * pixel)
            shifted = data if positions == 1 else self.concat(
                [(self.extract(buffer, 0, (positions - 1) * pixel, positions * pixel), (positions - 1) * pixel),
                 (data, pixel)])
            self.assign(buffer_reg, shifted, positions * pixel, when=push)
            # element (c, p) of the C x H x W input: channel c of pixel p, at offset positions - 1 - p
            elements = [self.resize(self.extract(buffer, (positions - 1 - p) * pixel + c * width, width,
                                                 positions * pixel), width, node.in_width)
                        for c in range(channels) for p in range(positions)]
            x_bits = len(elements) * node.in_width
            x = self.concat([(e, node.in_width) for e in reversed(elements)])
        else:
            sums = []
            wide = node.in_width
            for c in range(channels):
                acc_reg, acc = self.register(f"node{k}_sum{c}", wide)
                self.resets.append(f"sv.passign {acc_reg}, {self.const(0, wide)} : i{wide}")
                element = self.resize(self.extract(data, c * width, width, channels * width), width, wide)
                total = self.emit(f"comb.add {acc}, {element} : i{wide}")
                self.assign(acc_reg, self.mux(last, self.const(0, wide), total, wide), wide, when=push)
                held_reg, held = self.register(f"node{k}_pooled{c}", wide)
                self.assign(held_reg, total, wide, when=completes)
                sums.append(held)
            x_bits = channels * wide
            x = self.concat([(s, wide) for s in reversed(sums)])
        self.instance(node, x, x_bits)

    def text(self, depths: dict) -> str:
        for node in self.layouts:
            if node.kind == "window":
                self.window(node)
            elif node.kind == "map":
                self.map(node)
            elif node.kind == "join":
                self.join(node, depths)
            else:
                self.tail(node)
        # each node's ready: all its readers' (the source's is s_axis_tready)
        last = self.layouts[-1]
        for producer, readers in self.consumers.items():
            self.alias(self.and_(*[self.ready[c] for c in readers]), f"r{producer}" if producer != _SOURCE else "rsrc")
        self.alias("%m_axis_tready", f"r{last.index}")
        error = self.frame_error(self.and_("%s_axis_tvalid", "%rsrc"), self.height * self.width)
        if last.kind == "tail":
            out_last = self.true
        else:
            fire = self.and_(f"%v{last.index}", "%m_axis_tready")
            rows, columns = last.grid()
            _, out_last = self.counter("output_position", rows * columns, fire)
        return self.module_text(self.channels * self.x_width, "%rsrc", f"%v{last.index}", f"%d{last.index}",
                                last.out_bits, out_last, error)

    def frame_error(self, take: str, transfers: int) -> str:
        """The sticky frame_error: the source counts its transfers (`take`, `transfers` an image), and
        s_axis_tlast must mark each image's last one."""
        _, source_last = self.counter("source_position", transfers, take)
        error_reg, error = self.register("frame_error_flag", 1, reset=0)
        wrong = self.emit(f"comb.xor %s_axis_tlast, {source_last} : i1")
        self.assign(error_reg, self.true, 1, when=self.and_(take, wrong))
        return error

    def module_text(self, x_bits: int, ready: str, valid: str, data: str, out_bits: int, last: str,
                    error: str) -> str:
        """The top module: the AXI4-Stream ports, the body, and one always_ff block of every register."""
        header = (f"hw.module @{self.name}(in %clk : i1, in %rst : i1, in %s_axis_tvalid : i1, "
                  f"in %s_axis_tdata : i{x_bits}, in %s_axis_tlast : i1, in %m_axis_tready : i1, "
                  f"out s_axis_tready : i1, out m_axis_tvalid : i1, out m_axis_tdata : i{out_bits}, "
                  f"out m_axis_tlast : i1, out frame_error : i1) {{")
        block = "\n".join("      " + line.replace("\n", "\n      ") for line in self.ff)
        resets = "\n".join("      " + line for line in self.resets)
        self.body.line("sv.alwaysff(posedge %clk) {\n" + block + "\n    }(syncreset : posedge %rst) {\n" +
                       resets + "\n    }")
        return "\n".join([header] + self.body.lines + [
            f"    hw.output {ready}, {valid}, {data}, {last}, {error} : i1, i1, i{out_bits}, i1, i1", "}"])
