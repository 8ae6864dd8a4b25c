"""Physical figures of a compiled circuit: ASIC area and transistor estimates, FPGA place-and-route."""
