"""The annotation app's models, one module per concern."""

from .acknowledgement import InstructionsAcknowledgement
from .annotation import Annotation
from .assignment import Assignment
from .image import Image
from .instructions import InstructionExample, Instructions, InstructionsRevision
from .project import Project
from .skeleton import Keypoint, Skeleton, SkeletonEdge, SkeletonSpec
from .workforce import Membership, Organization, ProjectAnnotator, Vendor

__all__ = [
    "Annotation", "Assignment", "InstructionsAcknowledgement", "ProjectAnnotator", "Image", "InstructionExample", "Instructions", "InstructionsRevision",
    "Keypoint", "Membership", "Organization", "Project", "Skeleton", "SkeletonEdge", "SkeletonSpec", "Vendor",
]
