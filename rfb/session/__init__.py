"""The encoder session layer, shared by every transport. No I/O, clock injected."""

from .group import EncoderGroup
from .units import EncodedUnit, EncodeJob, GroupKey
from .viewer import INFLIGHT_TIMEOUT_S, Viewer

__all__ = ["INFLIGHT_TIMEOUT_S", "EncodeJob", "EncodedUnit", "EncoderGroup", "GroupKey", "Viewer"]
