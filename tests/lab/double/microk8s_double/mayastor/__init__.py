# SPDX-License-Identifier: GPL-3.0-or-later
"""The mayastor addon's data plane: io-engine replica servers on every node (`ioengine`), the nexus that replicates
a volume's writes to a majority of them (`nexus`) and the FUSE filesystem that mounts it for a pod (`fuse`,
`mount`). The wire is the double's own (JSON lines over TCP), not NVMe-oF."""

PORT = 8420  # NVMe-oF/TCP's port, where io-engine listens for nexus connections
DRIVER = "io.openebs.csi-mayastor"
