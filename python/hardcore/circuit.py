"""The compiled circuit (`Circuit`, its `Port`s) and writing its files all or none (`write_files_atomically`)."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hardcore.errors import HardcoreError, UsageError
from hardcore.interpreter import find_function, quantize_array, run_function
from hardcore.mlir import new_context, parse_module
from hardcore.scale import timing as timings

__all__ = ["Circuit", "Port", "STAGES", "write_files_atomically"]

# (stage name, pass that produces it from the previous stage)
STAGES = ("torch", "hardcore", "quantized", "step", "streamed", "dag", "pipelined", "steps", "hw", "recurrent_step",
          "recurrent_head")
# "step": a decoder's (kv-decode); "streamed": a streamed circuit's steps before folding (hardcore-stream);
# "steps": a time-multiplexed circuit's (hardcore-time-multiplex, instead of "dag"); "recurrent_step" and
# "recurrent_head": a stateful recurrent circuit's quantized step and head (hardcore.recurrent)


@dataclass(frozen=True)
class Port:
    """One data port: its name, shape, element width, scale (2^-frac_bits) and signedness;
    an input's integer range too (`hardcore.quantize`'s min and max)."""

    name: str
    shape: list[int]
    width: int
    frac_bits: int
    signed: bool = True
    range: tuple[int, int] | None = None  # inputs only

    @property
    def elements(self) -> int:
        return int(np.prod(self.shape))

    def report(self, output_kind: str = "") -> dict:
        """The port's entry in the JSON report."""
        entry = {"elements": self.elements, "shape": self.shape, "element_width": self.width,
                 "bits": self.elements * self.width, "frac_bits": self.frac_bits, "signed": self.signed}
        if self.range is not None:
            entry.update(min=self.range[0], max=self.range[1])
        kind = "two's complement" if self.signed else output_kind
        entry["layout"] = f"element i at bits [i*element_width +: element_width], {kind}"
        return entry


@dataclass
class Circuit:
    """A compiled network: its SystemVerilog, its IR at every stage and its port convention.

    One input and one output are ports `x` and `y`, described by the `in_*` and
    `out_*` fields.  A model with several inputs or outputs has ports `x0`,
    `x1`, ... and `y0`, `y1`, ... (`in_ports`, `out_ports`; the `in_*` and
    `out_*` fields then describe `x0` and `y0`); its `quantize_input`,
    `reference`, `predict` and `simulate` take and return tuples, one array per port.
    """

    name: str
    verilog: str
    stages: dict[str, str]
    in_shape: list[int]
    in_width: int
    in_frac_bits: int
    in_range: tuple[int, int]
    out_shape: list[int]
    out_width: int
    out_frac_bits: int
    layers: list[dict]
    options: dict
    figures: dict = field(default_factory=dict)
    latency: int = 0  # clock cycles from x to y; 0: combinational
    clock_enable: bool = False
    out_signed: bool = True  # False: y holds unsigned indices (output="argmax")
    in_signed: bool = True  # False: x holds token ids, unsigned (`hardcore.input_unsigned`)
    in_ports: list[Port] = field(default_factory=list)  # several inputs (x0, x1, ...); empty: x alone
    out_ports: list[Port] = field(default_factory=list)  # several outputs (y0, y1, ...); empty: y alone

    # -- numbers in, numbers out -------------------------------------------
    @property
    def inputs(self) -> list[Port]:
        """The input ports: `x`, or `x0`, `x1`, ..."""
        return self.in_ports or [Port("x", self.in_shape, self.in_width, self.in_frac_bits, self.in_signed,
                                      tuple(self.in_range))]

    @property
    def outputs(self) -> list[Port]:
        """The output ports: `y`, or `y0`, `y1`, ..."""
        return self.out_ports or [Port("y", self.out_shape, self.out_width, self.out_frac_bits, self.out_signed)]

    @property
    def n_in(self) -> int:
        return int(np.prod(self.in_shape))

    @property
    def n_out(self) -> int:
        return int(np.prod(self.out_shape))

    def _per_port(self, values, ports: list[Port], what: str) -> list:
        """`values` as one item per port: itself for one port, else a tuple or list of that many."""
        if len(ports) == 1:
            return [values]
        if not isinstance(values, (tuple, list)) or len(values) != len(ports):
            got = f"{len(values)} arrays" if isinstance(values, (tuple, list)) else "one array"
            kind = "inputs" if ports[0].name[0] == "x" else "outputs"
            raise UsageError(f"{what}: the circuit has {len(ports)} {kind} ({', '.join(p.name for p in ports)}): "
                             f"expected a tuple of {len(ports)} arrays, got {got}")
        return list(values)

    @staticmethod
    def _joined(values: list):
        return values[0] if len(values) == 1 else tuple(values)

    def quantize_input(self, x):
        """Float inputs (batch, *shape) to the integers the circuit's `x` takes; a tuple of them, one
        per input, for a circuit with several.

        Token ids (a circuit whose `x` is unsigned) come back unchanged when they lie in
        [0, V-1]; an id >= V becomes V - 1, as the circuit reads it."""
        quantized = []
        for values, port in zip(self._per_port(x, self.inputs, "quantize_input"), self.inputs):
            values = np.asarray(values, dtype=np.float64)
            quantized.append(quantize_array(values.reshape(values.shape[0], -1) if values.ndim > 1
                                            else values[None, :], port.frac_bits, *port.range))
        return self._joined(quantized)

    def dequantize_output(self, y_int):
        """The circuit's integer outputs to floats (a tuple of them for a circuit with several)."""
        values = self._per_port(y_int, self.outputs, "dequantize_output")
        return self._joined([np.asarray(v, dtype=np.float64) * 2.0 ** -port.frac_bits
                             for v, port in zip(values, self.outputs)])

    def reference(self, x_int):
        """Exactly what the circuit computes, in numpy: integer inputs (batch, n_in) -> (batch, n_out).

        Runs the quantized layer IR (matrix products on int64), which every
        pass after it must preserve bit for bit.  With several inputs (outputs),
        a tuple of arrays, one per port, in and out.
        """
        arrays = []
        for values, port in zip(self._per_port(x_int, self.inputs, "reference"), self.inputs):
            values = np.asarray(values, dtype=np.int64)
            if values.ndim == 1:
                values = values[None, :]
            which = f" of {port.name}" if len(self.inputs) > 1 else ""
            if values.shape[1] != port.elements:
                raise UsageError(f"reference: expected inputs{which} of {port.elements} elements, "
                                 f"got {values.shape[1]}")
            low, high = port.range
            if values.size and (values.min() < low or values.max() > high):
                raise UsageError(f"reference: inputs{which} must lie in [{low}, {high}]")
            arrays.append(values)
        if len({len(a) for a in arrays}) > 1:
            raise UsageError(f"reference: the inputs hold different numbers of samples "
                             f"({', '.join(str(len(a)) for a in arrays)})")
        module = parse_module(self.stages["quantized"], new_context(), "quantized")
        result = run_function(find_function(module.operation), arrays, from_quantized=True)
        results = result if isinstance(result, tuple) else (result,)
        return self._joined([r.reshape(len(arrays[0]), -1) for r in results])

    def from_port(self, y):
        """Port y's values as `hardcore.sim` reads them (two's complement) -> what `reference` returns.

        An unsigned port (output="argmax": the index of the largest output) is read unsigned.
        """
        values = self._per_port(y, self.outputs, "from_port")
        return self._joined([np.asarray(v, dtype=np.int64) if port.signed else
                             np.asarray(v, dtype=np.int64) & ((1 << port.width) - 1)
                             for v, port in zip(values, self.outputs)])

    def to_port(self, x_int):
        """What `reference` takes -> port x's values as `hardcore.sim` writes them (two's complement).

        An unsigned port (token ids) holds each value's `in_width` bits: those
        at or above 2^(in_width-1) go to the simulator as the negative numbers
        with the same bits.
        """
        values = self._per_port(x_int, self.inputs, "to_port")
        return self._joined([np.asarray(v, dtype=np.int64) if port.signed else
                             np.where(np.asarray(v) >= 1 << (port.width - 1), np.asarray(v, dtype=np.int64)
                                      - (1 << port.width), np.asarray(v, dtype=np.int64))
                             for v, port in zip(values, self.inputs)])

    def predict(self, x):
        """Float in, float out, through the integer reference."""
        return self.dequantize_output(self.reference(self.quantize_input(x)))

    def simulate(self, x_int, workdir, *, simulator: str = "verilator", progress=None):
        """The circuit's SystemVerilog in a simulator on integer inputs (what `reference` takes): a
        `hardcore.sim.SimResult` whose `outputs` are what `reference` returns (a tuple for several outputs).

        Pipelined, one input enters every clock.  Several ports go through `hardcore.sim.simulate_ports`.
        """
        from hardcore.sim import simulate, simulate_ports

        latency = self.latency or None
        if len(self.inputs) == 1 and len(self.outputs) == 1:
            result = simulate(self.verilog, self.name, self.to_port(x_int), n_in=self.n_in, in_width=self.in_width,
                              n_out=self.n_out, out_width=self.out_width, latency=latency,
                              clock_enable=self.clock_enable, workdir=workdir, simulator=simulator,
                              progress=progress)
        else:
            inputs = self.to_port(x_int)
            result = simulate_ports(self.verilog, self.name, list(inputs) if len(self.inputs) > 1 else [inputs],
                                    in_ports=[(p.name, p.elements, p.width) for p in self.inputs],
                                    out_ports=[(p.name, p.elements, p.width) for p in self.outputs],
                                    latency=latency, clock_enable=self.clock_enable, workdir=workdir,
                                    simulator=simulator, progress=progress)
            result.outputs = result.outputs if len(self.outputs) > 1 else result.outputs[0]
        result.outputs = self.from_port(result.outputs)
        return result

    # -- files ---------------------------------------------------------------
    @property
    def report(self) -> dict:
        ports = {port.name: port.report("unsigned: a token id") for port in self.inputs}
        ports.update({port.name: port.report("unsigned: the index of the largest output (argmax)")
                      for port in self.outputs})
        x, y = ", ".join(p.name for p in self.inputs), ", ".join(p.name for p in self.outputs)
        return {
            "module": self.name,
            "ports": ports,
            "latency_cycles": self.latency,
            "clocked": self.latency > 0,
            "control_ports": ({"clk": "clock, rising edge", "rst": "synchronous, active high, resets the valid chain only",
                               "in_valid": f"{x} hold{'s' if len(self.inputs) == 1 else ''} an input this cycle",
                               "out_valid": f"{y} hold{'s' if len(self.outputs) == 1 else ''} the result of the "
                                            f"input given {self.latency} cycles earlier",
                               **({"ce": "clock enable, active high"} if self.clock_enable else {})}
                              if self.latency else {}),
            "options": self.options,
            "layers": self.layers,
            **self.figures,
        }

    @classmethod
    def load(cls, directory) -> "Circuit":
        """The circuit a `write` left in `directory` (its .json, .sv and .mlir files)."""
        directory = Path(directory)
        reports = sorted(directory.glob("*.json"))
        if len(reports) != 1:
            raise UsageError(f"{directory}: expected one compiled circuit (a .json report), "
                             f"found {len(reports)}")
        try:
            report = json.loads(reports[0].read_text())
            name = report["module"]
            stages = {stage: (directory / f"{name}.{stage}.mlir").read_text()
                      for stage in STAGES if (directory / f"{name}.{stage}.mlir").exists()}
            verilog = (directory / f"{name}.sv").read_text()
            ports = report["ports"]
            in_ports = [_port_of(key, ports[key]) for key in _numbered(ports, "x")]
            out_ports = [_port_of(key, ports[key]) for key in _numbered(ports, "y")]
            x, y = ports[in_ports[0].name], ports[out_ports[0].name]
        except (OSError, ValueError, KeyError) as exc:
            raise UsageError(f"{directory}: not a complete 'hardcore compile' output: {exc}") from None
        if "quantized" not in stages:
            raise UsageError(f"{directory}: {name}.quantized.mlir is missing")
        figures = {k: report[k] for k in ("adders", "adder_bits", "adder_depth", "clamps", "comparators", "tables",
                                          "table_entries", "multipliers", "multiplier_bits", "muxes", "registers",
                                          "register_bits", "cache_bits", "synthesis", "asic", "cycles_per_inference",
                                          "cycles_per_frame", "line_buffer_bits", "fifo_bits", "cycles_per_sequence")
                   if k in report}
        if "decoder" in report:
            from hardcore.decoder import DecoderCircuit
            cls = DecoderCircuit
            decoder = report["decoder"]
            extra = {"positions": decoder["positions"], "caches": decoder["caches"],
                     "logits_width": report["ports"].get("logits", {}).get("element_width", 0),
                     "logits_frac_bits": decoder["logits_frac_bits"]}
        elif "time_multiplex" in report:
            from hardcore.time_multiplex import TimeMultiplexedCircuit
            cls = TimeMultiplexedCircuit
            extra = {"reuse": report["time_multiplex"]["reuse"], "steps": report["time_multiplex"]["steps"]}
        elif "stream" in report:
            from hardcore.stream import StreamedCircuit
            cls = StreamedCircuit
            extra = {"nodes": report["stream"]["nodes"], "cycles_per_frame": report["stream"]["cycles_per_frame"],
                     "pixels_per_clock": report["stream"].get("pixels_per_clock", 1)}
        elif "recurrent" in report:
            from hardcore.recurrent.circuit import RecurrentCircuit
            cls = RecurrentCircuit
            recurrent = report["recurrent"]
            extra = {"steps": recurrent["steps"], "state_size": recurrent["state_size"],
                     "state_width": recurrent["state_width"], "initial_codes": recurrent["initial_state"],
                     "initial_inputs": recurrent.get("initial_inputs", []), "sequence": recurrent.get("sequence", False),
                     "step_latency": recurrent.get("step_latency", 0), "head_latency": recurrent.get("head_latency", 0)}
            x = dict(x, shape=recurrent["sequence_shape"])
            if extra["initial_inputs"]:  # the sequence and the initial state's ports, as `reference` takes them
                in_ports = [_port_of("x", x)] + [_port_of(n, ports[n]) for n in extra["initial_inputs"]]
        else:
            extra = {}
        return cls(name=name, verilog=verilog, stages=stages, in_shape=x["shape"],
                   in_width=x["element_width"], in_frac_bits=x["frac_bits"], in_range=(x["min"], x["max"]),
                   out_shape=y["shape"], out_width=y["element_width"], out_frac_bits=y["frac_bits"],
                   layers=report["layers"], options=report["options"], figures=figures,
                   latency=report.get("latency_cycles", 0),
                   clock_enable=bool(report["options"].get("clock_enable")), out_signed=y.get("signed", True),
                   in_signed=x.get("signed", True), in_ports=in_ports if len(in_ports) > 1 else [],
                   out_ports=out_ports if len(out_ports) > 1 else [], **extra)

    def write(self, directory, stages: bool = True) -> list[Path]:
        """Write `<name>.sv`, `<name>.json` (and the IR of each stage) into `directory`."""
        files = {f"{self.name}.sv": self.verilog,
                 f"{self.name}.json": json.dumps(self.report, indent=2, sort_keys=True) + "\n"}
        if stages:
            files.update({f"{self.name}.{stage}.mlir": text for stage, text in self.stages.items()})
        with timings.stage("write"):
            return write_files_atomically(directory, files)


def _numbered(ports: dict, letter: str) -> list[str]:
    """The report's port names for `letter`: [letter], or letter0, letter1, ... (KeyError if neither)."""
    if letter in ports:
        return [letter]
    names = list(itertools.takewhile(lambda name: name in ports, (f"{letter}{i}" for i in itertools.count())))
    if not names:
        raise KeyError(letter)
    return names


def _port_of(name: str, entry: dict) -> Port:
    return Port(name, entry["shape"], entry["element_width"], entry["frac_bits"], entry.get("signed", True),
                (entry["min"], entry["max"]) if "min" in entry else None)


def write_files_atomically(directory, files: dict[str, str]) -> list[Path]:
    """Write every file or none, never a half-written one.

    A directory that does not exist yet is built whole under a hidden
    temporary name in its nearest existing ancestor (the same file system),
    then renamed into place: until then nothing named `directory` exists.
    Into an existing directory, each file goes to a temporary name in it
    first; the renames come after every file is written.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise HardcoreError(f"{directory}: cannot create the output directory: it is a file")
    if directory.is_dir():
        return _replace_files(directory, files)
    base = directory.parent
    while not base.exists() and base != base.parent:
        base = base.parent
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=base))
    except OSError as exc:
        raise HardcoreError(f"{directory}: cannot create the output directory: {exc.strerror}") from None
    try:
        staging.chmod(0o777 & ~_umask())
        for name, text in files.items():
            _write_text(staging / name, text)
        directory.parent.mkdir(parents=True, exist_ok=True)
        os.rename(staging, directory)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise HardcoreError(f"{directory}: cannot write the output: {exc.strerror}") from None
    return [directory / name for name in files]


def _replace_files(directory: Path, files: dict[str, str]) -> list[Path]:
    temporaries = []
    try:
        for name, text in files.items():
            handle, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
            os.close(handle)
            temporaries.append((Path(temporary), directory / name))
            _write_text(Path(temporary), text)
        for temporary, final in temporaries:
            os.replace(temporary, final)
    except OSError as exc:
        for temporary, _ in temporaries:
            temporary.unlink(missing_ok=True)
        raise HardcoreError(f"{directory}: cannot write the output: {exc.strerror}") from None
    return [final for _, final in temporaries]


def _write_text(path: Path, text: str) -> None:
    """One output file, with the permissions a plain `open` would give it (mkstemp's are 0600)."""
    path.write_text(text)
    path.chmod(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask

