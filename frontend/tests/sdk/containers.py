"""Docker's Python SDK against berth daemon: the container calls of the book.

Run by frontend/tests/daemon_sdk.rs with DOCKER_HOST pointing at the daemon;
each check raises on a difference, and the script prints `ok` at the end.
"""

import io
import tarfile
import time

import docker
import docker.errors

client = docker.from_env(version="auto")

assert client.ping() is True
version = client.version()
assert version["ApiVersion"] == "1.41", version
assert client.info()["Driver"] == "overlay2"

# run -d, logs, list, inspect
box = client.containers.run(
    "busybox",
    ["sh", "-c", "echo hello; echo oops >&2; exec sleep 1000"],
    name="sdk-box",
    detach=True,
    network_mode="none",
    labels={"tier": "sdk"},
)
box.reload()
assert box.status == "running", box.status
assert box.name == "sdk-box"
deadline = time.time() + 30
while b"hello" not in box.logs():
    assert time.time() < deadline, box.logs()
    time.sleep(0.05)
assert box.logs(stdout=True, stderr=False) == b"hello\n"
assert box.logs(stdout=False, stderr=True) == b"oops\n"
listed = client.containers.list(filters={"label": "tier=sdk"})
assert [c.id for c in listed] == [box.id], listed
assert client.containers.get("sdk-box").attrs["Config"]["Labels"] == {"tier": "sdk"}

# stats, top, files
stats = box.stats(stream=False)
assert stats["pids_stats"]["current"] == 1, stats
assert stats["name"] == "/sdk-box"
top = box.top()
assert top["Titles"][0] == "UID", top
data = io.BytesIO()
with tarfile.open(fileobj=data, mode="w") as tar:
    payload = b"from the sdk\n"
    info = tarfile.TarInfo("note")
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))
assert box.put_archive("/tmp", data.getvalue()) is True
chunks, stat = box.get_archive("/tmp/note")
assert stat["name"] == "note" and stat["size"] == len(payload), stat
with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
    assert tar.extractfile("note").read() == payload
changes = {c["Path"]: c["Kind"] for c in box.diff()}
assert changes.get("/tmp/note") == 1, changes

# exec: output, exit code, environment, user, workdir; detached
result = box.exec_run(["sh", "-c", "echo $GREETING from $(pwd) as $(id -u); exit 4"],
                      environment={"GREETING": "hi"}, workdir="/tmp", user="1:1")
assert result.exit_code == 4, result
assert result.output == b"hi from /tmp as 1\n", result.output
# Still running when the SDK asks: no exit code yet, as dockerd answers.
detached = box.exec_run(["sh", "-c", "sleep 1; touch /tmp/detached"], detach=True)
assert detached.exit_code is None, detached
deadline = time.time() + 30
while box.exec_run(["test", "-e", "/tmp/detached"]).exit_code != 0:
    assert time.time() < deadline
    time.sleep(0.05)
exec_id = client.api.exec_create(box.id, ["true"])["Id"]
client.api.exec_start(exec_id)
assert client.api.exec_inspect(exec_id)["ExitCode"] == 0

# pause, stop, wait, restart, rename, remove
box.pause()
box.reload()
assert box.status == "paused"
box.unpause()
box.stop(timeout=1)
assert box.wait(timeout=30)["StatusCode"] == 137
box.reload()
assert box.status == "exited"
box.start()
box.reload()
assert box.status == "running"
box.rename("sdk-box2")
try:
    box.remove()
    raise AssertionError("removed a running container")
except docker.errors.APIError as e:
    assert e.status_code == 409, e
box.remove(force=True)
try:
    client.containers.get("sdk-box2")
    raise AssertionError("still there")
except docker.errors.NotFound:
    pass

# run in the foreground: the output and the status
out = client.containers.run("busybox", ["echo", "foreground"], network_mode="none", remove=True)
assert out == b"foreground\n", out
try:
    client.containers.run("busybox", ["sh", "-c", "exit 3"], network_mode="none", remove=True)
    raise AssertionError("no error for exit 3")
except docker.errors.ContainerError as e:
    assert e.exit_status == 3

# networks
net = client.networks.create("sdk-net")
peer = client.containers.create("busybox", ["sleep", "1000"], name="sdk-peer")
net.connect(peer)
net.reload()
assert [c.name for c in net.containers] == ["sdk-peer"], net.attrs
net.disconnect(peer)
peer.remove()
net.remove()

# events: what happened above, replayed
since = int(time.time()) - 120
names = set()
for event in client.events(since=since, until=int(time.time()) + 1, decode=True,
                           filters={"type": "container", "event": "destroy"}):
    names.add(event["Actor"]["Attributes"]["name"])
assert {"sdk-box2", "sdk-peer"} <= names, names

# the images the book lists
assert any("busybox:latest" in i.tags for i in client.images.list())
assert client.df()["Images"][0]["Containers"] >= 0

# prune
client.containers.create("busybox", ["true"], name="sdk-stopped")
pruned = client.containers.prune()
assert any(True for _ in pruned["ContainersDeleted"]), pruned

print("ok")
