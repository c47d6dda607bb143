"""The Voila labs: ipywidgets controls wiring the model (smi) to the chart builders (smi_charts)."""
import sys

# Every visitor costs a kernel start (a pooled kernel is refilled), so its CPU bounds how many a
# 2-core server can serve. jsonschema, imported by altair, loads rfc3987_syntax when installed
# (jupyter-events asks for it), which compiles a grammar: 2.7 s of CPU, for an "iri" format check
# the labs never make. A None entry makes that import fail, and jsonschema then skips the check.
if "jsonschema" not in sys.modules:
    sys.modules.setdefault("rfc3987_syntax", None)

from .capability import CapabilityLab, capability_lab
from .common import prebuild, warm
from .dysfunction import DysfunctionLab, dysfunction_lab
from .linkage import LinkageLab, linkage_lab

__all__ = ["LinkageLab", "CapabilityLab", "DysfunctionLab", "linkage_lab", "capability_lab", "dysfunction_lab", "prebuild", "warm"]
