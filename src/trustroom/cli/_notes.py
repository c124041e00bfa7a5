"""What the command line says wherever the simulated TEE stands in for hardware. Kept apart
from the option definitions so that ``trustroom enclave run`` can say it without loading them."""

__all__ = ["SIM_NOTE"]

SIM_NOTE = "SIMULATED: not a hardware TEE, protects nothing"
