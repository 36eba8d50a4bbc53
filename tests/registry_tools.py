"""Test helpers for the registry: build and push poller test images, and talk to the registry API
directly where the Docker CLI cannot (an OCI index, many tags at once, a registry with auth)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Optional

import requests

from tests.helpers import BUSYBOX_IMAGE, Docker

MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def build_and_push(
    docker: Docker, ref: str, version: str, nonce: str = "", push: bool = True, healthcheck: str = ""
) -> str:
    """Build a poller-like test image FROM the busybox image with the real image's labels; push it.

    NONCE makes an otherwise identical build differ (a rebuild under the same tag)."""
    with tempfile.TemporaryDirectory() as ctx:
        lines = [
            f"FROM {BUSYBOX_IMAGE}",
            f'LABEL org.opencontainers.image.version="{version}" org.opencontainers.image.revision="{nonce or "0"}"',
            f'RUN ["/bin/sh", "-c", "echo {version} {nonce} > /etc/poller-release"]',
        ]
        if healthcheck:
            lines.append(f"HEALTHCHECK --interval=1s --timeout=2s --retries=1 CMD {healthcheck}")
        lines.append('CMD ["sleep", "1000000"]')
        Path(ctx, "Dockerfile").write_text("\n".join(lines) + "\n")
        proc = subprocess.run(
            [
                "env",
                "DOCKER_BUILDKIT=0",
                "/usr/bin/docker",
                "-H",
                docker.host,
                "build",
                "-q",
                "--network",
                "none",
                "-t",
                ref,
                ctx,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise AssertionError(f"build of {ref} failed: {proc.stderr}")
    if push:
        docker("push", ref)
    return ref


class RegistryAPI:
    """The registry v2 API for test set-up (what `docker push` cannot express)."""

    def __init__(self, base: str, auth: Optional[tuple[str, str]] = None, verify: Any = True) -> None:
        self.base = base.rstrip("/")
        self.s = requests.Session()
        self.s.auth = auth
        self.verify = verify  # per request: a session-level verify loses to $REQUESTS_CA_BUNDLE

    def manifest(self, repo: str, ref: str) -> tuple[bytes, str, str]:
        r = self.s.get(
            verify=self.verify, url=f"{self.base}/v2/{repo}/manifests/{ref}", headers={"Accept": MANIFEST}, timeout=10
        )
        r.raise_for_status()
        return r.content, r.headers["Content-Type"], r.headers["Docker-Content-Digest"]

    def put_manifest(self, repo: str, ref: str, body: bytes, media_type: str) -> str:
        r = self.s.put(
            verify=self.verify,
            url=f"{self.base}/v2/{repo}/manifests/{ref}",
            data=body,
            headers={"Content-Type": media_type},
            timeout=10,
        )
        r.raise_for_status()
        return r.headers["Docker-Content-Digest"]

    def delete_manifest(self, repo: str, digest: str) -> None:
        """Delete by digest (the test registry has delete enabled): every tag on it goes too."""
        r = self.s.delete(verify=self.verify, url=f"{self.base}/v2/{repo}/manifests/{digest}", timeout=10)
        r.raise_for_status()

    def blob(self, repo: str, digest: str) -> bytes:
        r = self.s.get(verify=self.verify, url=f"{self.base}/v2/{repo}/blobs/{digest}", timeout=30)
        r.raise_for_status()
        return r.content

    def put_blob(self, repo: str, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if self.s.head(verify=self.verify, url=f"{self.base}/v2/{repo}/blobs/{digest}", timeout=10).status_code == 200:
            return digest
        r = self.s.post(verify=self.verify, url=f"{self.base}/v2/{repo}/blobs/uploads/", timeout=10)
        r.raise_for_status()
        location = r.headers["Location"]
        if location.startswith("/"):
            location = self.base + location
        sep = "&" if "?" in location else "?"
        r = self.s.put(
            verify=self.verify,
            url=f"{location}{sep}digest={digest}",
            data=data,
            headers={"Content-Type": "application/octet-stream"},
            timeout=30,
        )
        r.raise_for_status()
        return digest

    def copy(self, source: RegistryAPI, repo: str, tag: str, target_repo: str, target_tag: str) -> str:
        """Copy REPO:TAG from SOURCE into this registry as TARGET_REPO:TARGET_TAG."""
        body, media, _ = source.manifest(repo, tag)
        doc = json.loads(body)
        for d in [doc["config"], *doc["layers"]]:
            self.put_blob(target_repo, source.blob(repo, d["digest"]))
        return self.put_manifest(target_repo, target_tag, body, media)

    def push_index(self, repo: str, tag: str, children: dict[str, str]) -> str:
        """An OCI index whose entries are PLATFORM -> digest of a manifest already in REPO."""
        manifests = []
        for platform, digest in children.items():
            body, media, _ = self.manifest(repo, digest)
            os_, arch = platform.split("/")
            manifests.append(
                {"mediaType": media, "digest": digest, "size": len(body), "platform": {"os": os_, "architecture": arch}}
            )
        index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}).encode()
        return self.put_manifest(repo, tag, index, OCI_INDEX)
