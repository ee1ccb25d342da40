"""Sized volumes on one host: image files on loop devices, formatted XFS, mounted under DATA.

    DATA/volumes/images/VOLUME_ID.img      the volume's bytes (allocated up front, so reserved)
    DATA/volumes/mnt/VOLUME_ID/            where the filesystem is mounted
    DATA/volumes/mnt/VOLUME_ID/data/       what instances see at their mount path
    DATA/volumes/snapshots/SNAPSHOT_ID.img a point-in-time copy of an image

``backend.VolumeBackend`` is the boundary; ``loop.LoopBackend`` the real one, ``fake.FakeBackend``
a directory-backed one for unit tests, and ``loop.probe`` says which this host can have. Rules
(placement, shrink refusal, the gate) live in ``platd.spec.volumes``.
"""

from platd.volumes.backend import Usage, VolumeBackend, VolumeIOError, mount_source
from platd.volumes.loop import LoopBackend, UnavailableBackend, open_backend, probe

__all__ = [
    "LoopBackend",
    "UnavailableBackend",
    "Usage",
    "VolumeBackend",
    "VolumeIOError",
    "mount_source",
    "open_backend",
    "probe",
]
