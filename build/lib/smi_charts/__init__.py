"""Chart builders and book components for the SMI textbook (the model itself is ``smi``)."""
