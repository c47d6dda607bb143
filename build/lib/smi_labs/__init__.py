"""The Voila labs: ipywidgets controls wiring the model (smi) to the chart builders (smi_charts)."""
from .capability import CapabilityLab, capability_lab
from .dysfunction import DysfunctionLab, dysfunction_lab
from .linkage import LinkageLab, linkage_lab

__all__ = ["LinkageLab", "CapabilityLab", "DysfunctionLab", "linkage_lab", "capability_lab", "dysfunction_lab"]
