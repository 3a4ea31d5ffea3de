"""Docker's Python SDK against berth daemon: pulls with their progress, tags and
pushes, against the registry the test started (REGISTRY=host:port), which holds
busybox:latest. Prints `ok` at the end; each check raises on a difference."""

import os

import docker
import docker.errors

client = docker.from_env(version="auto")
registry = os.environ["REGISTRY"]
repository = f"{registry}/busybox"

# A pull with its progress stream, as the SDK's users read it.
statuses = []
layers_done = set()
for message in client.api.pull(repository, tag="latest", stream=True, decode=True):
    assert "error" not in message, message
    statuses.append(message.get("status", ""))
    if message.get("status") == "Pull complete":
        layers_done.add(message["id"])
    if message.get("status") == "Downloading":
        # Go's omitempty: a count of 0 is left out, as dockerd leaves it.
        detail = message["progressDetail"]
        assert 0 <= detail.get("current", 0) <= detail["total"], message
assert statuses[0] == "Pulling from busybox", statuses
assert layers_done, statuses
assert any(s.startswith("Digest: sha256:") for s in statuses), statuses
assert statuses[-1] == f"Status: Downloaded newer image for {repository}:latest", statuses

image = client.images.get(f"{repository}:latest")
assert f"{repository}:latest" in image.tags
again = client.images.pull(repository, tag="latest")
assert again.id == image.id

# tag and push, and the pushed image pulls back
assert image.tag(f"{registry}/sdk/copy", tag="v1")
pushed = [m for m in client.images.push(f"{registry}/sdk/copy", tag="v1", stream=True, decode=True)]
assert not any("error" in m for m in pushed), pushed
assert any("aux" in m and m["aux"]["Tag"] == "v1" for m in pushed), pushed
client.images.remove(f"{registry}/sdk/copy:v1")
assert client.images.pull(f"{registry}/sdk/copy", tag="v1").id == image.id

# a container from the pulled image, its logs, its end
out = client.containers.run(f"{repository}:latest", ["/bin/busybox", "echo", "pulled"],
                            network_mode="none",
                            remove=True)
assert out == b"pulled\n", out

try:
    client.images.pull(f"{registry}/nosuch", tag="latest")
    raise AssertionError("pulled what is not there")
except docker.errors.NotFound:
    pass

print("ok")
