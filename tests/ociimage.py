"""A one-layer OCI image made locally from a rootfs, no registry: what
tests/test_containerd.py imports into its private containerd and
bench/e2e.py into podman and containerd (the same image for both)."""
import gzip
import hashlib
import io
import json
import tarfile

IMAGE = "localhost/bb:latest"


def oci_archive(rootfs, path):
    """A one-layer OCI image layout tar (what `ctr images import` reads)."""
    blobs = {}

    def blob(data):
        d = hashlib.sha256(data).hexdigest()
        blobs[d] = data
        return {"digest": "sha256:" + d, "size": len(data)}
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as t:
        t.add(rootfs, arcname=".")
    layer_tar = raw.getvalue()
    layer = blob(gzip.compress(layer_tar, 1))
    config = blob(json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers",
                   "diff_ids": ["sha256:" + hashlib.sha256(layer_tar).hexdigest()]}}).encode())
    manifest = blob(json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": dict(config, mediaType="application/vnd.oci.image.config.v1+json"),
        "layers": [dict(layer, mediaType="application/vnd.oci.image.layer.v1.tar+gzip")]}).encode())
    index = {"schemaVersion": 2, "manifests": [dict(
        manifest, mediaType="application/vnd.oci.image.manifest.v1+json",
        platform={"architecture": "amd64", "os": "linux"},
        annotations={"org.opencontainers.image.ref.name": IMAGE,
                     "io.containerd.image.name": IMAGE})]}
    with tarfile.open(path, "w") as t:
        def add(name, data):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
        add("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        add("index.json", json.dumps(index).encode())
        for d, data in blobs.items():
            add(f"blobs/sha256/{d}", data)
