"""The live simulated robot: franky-sim server process with the cell scene (no ROS).

``SimServerProcess`` starts ``python -m vjepa2_world_model.sim.server --child ...``:
franky-sim's MuJoCo FR3 + hand speaking the libfranka protocol on ``hostname`` (robot TCP
1337, gripper 1338), paced to real time.  The child mirrors the simulation state (sim
time + qpos) into a named shared-memory block (seqlock) for rendering and ground truth,
and takes object placement commands as JSON lines on stdin (replies on stdout).  It dies
with its parent (PR_SET_PDEATHSIG).  A subprocess rather than multiprocessing, so callers
need no ``__main__`` guard.

Run alone (no camera, no ROS): ``python -m vjepa2_world_model.sim.server --hostname 127.0.0.1``.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from multiprocessing import resource_tracker, shared_memory
from typing import Any

import numpy as np

from .config import load_config
from .scene import OBJECT_NAMES, build_simulator, object_qpos_addresses

_HEADER = 2  # [seq (odd while writing), sim_time]
MAX_QPOS = 64
_SHM_BYTES = 8 * (_HEADER + MAX_QPOS)


def _die_with_parent(parent_pid: int) -> None:
    # The parent stops this process (SIGTERM, or SIGKILL on its death): a Ctrl-C to the
    # terminal's process group must not kill the simulator under the parent's own orderly
    # stop (the bridge still stops the arm, and the parent would report a crash).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    if os.getppid() != parent_pid:
        os._exit(1)


_EMIT_LOCK = threading.Lock()


def _emit(obj: dict[str, Any]) -> None:
    with _EMIT_LOCK:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def run_child(
    cfg: dict[str, Any],
    hostname: str,
    shm_name: str | None,
    realtime: float,
    parent_pid: int | None,
    initial_poses: dict[str, Any],
) -> int:
    """Child process body: build the scene, serve libfranka, mirror state, obey stdin."""
    import logging

    import franky_sim
    import mujoco

    if parent_pid:
        _die_with_parent(parent_pid)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    buf = None
    if shm_name:
        shm = shared_memory.SharedMemory(name=shm_name)
        try:  # the parent owns the block; keep our resource tracker from unlinking it
            resource_tracker.unregister(shm._name, "shared_memory")
        except Exception:
            pass
        buf = np.ndarray((_HEADER + MAX_QPOS,), dtype=np.float64, buffer=shm.buf)
    sim, robot = build_simulator(cfg)
    server = franky_sim.SimulationServer(sim, hostname_candidates=[hostname])
    try:
        server.init()
    except Exception as exc:
        _emit({"event": "error", "message": f"sim server could not start on {hostname}: {exc}"})
        return 1
    model, data = sim.model, sim.data
    qadr = object_qpos_addresses(model)
    dadr = {
        n: int(model.jnt_dofadr[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, f"{n}_joint")])
        for n in OBJECT_NAMES
    }
    nq = model.nq
    commands: queue.Queue = queue.Queue()
    counter = [0]

    def place(poses: dict[str, Any]) -> dict[str, list[float]]:
        for name, pose in poses.items():
            if name not in qadr:
                continue
            a, d = qadr[name], dadr[name]
            data.qpos[a : a + 7] = np.asarray(pose, dtype=np.float64)
            data.qvel[d : d + 6] = 0.0
        mujoco.mj_forward(model, data)
        return {n: data.qpos[qadr[n] : qadr[n] + 7].tolist() for n in OBJECT_NAMES}

    def publish() -> None:
        if buf is None:
            return
        buf[0] += 1
        buf[1] = data.time
        buf[_HEADER : _HEADER + nq] = data.qpos
        buf[0] += 1

    def pre_step(_sim: Any) -> None:
        counter[0] += 1
        if counter[0] % 10 == 0 and not commands.empty():
            cmd = commands.get_nowait()
            if cmd.get("cmd") == "place":
                _emit({"event": "placed", "id": cmd.get("id"), "poses": place(cmd["poses"])})

    def post_step(_sim: Any) -> None:
        if counter[0] % 4 == 0:
            publish()

    def read_stdin() -> None:
        for line in sys.stdin:
            try:
                commands.put(json.loads(line))
            except json.JSONDecodeError:
                _emit({"event": "error", "message": f"bad command line {line!r}"})

    if initial_poses:
        place(initial_poses)
    publish()
    sim.register_pre_step_callback(pre_step)
    sim.register_post_step_callback(post_step)
    threading.Thread(target=read_stdin, daemon=True).start()
    _emit({"event": "ready", "hostname": robot.hostname, "nq": nq})
    try:
        server.run_forever(realtime)
    except KeyboardInterrupt:
        pass
    finally:
        server.cleanup()
    return 0


def mujoco_log_dir() -> str:
    """Where the server runs: MuJoCo writes MUJOCO_LOG.TXT (warnings such as an unstable
    simulation) into the working directory, so not the user's (or the repository's) but
    the ROS log directory ($ROS_LOG_DIR, else ~/.ros/log)."""
    d = os.environ.get("ROS_LOG_DIR") or os.path.join(
        os.environ.get("ROS_HOME") or os.path.expanduser("~/.ros"), "log"
    )
    os.makedirs(d, exist_ok=True)
    return d


def _child_env() -> dict[str, str]:
    """The environment with this package importable from any working directory."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in parts:
        env["PYTHONPATH"] = os.pathsep.join([root, *parts])
    return env


class SimServerProcess:
    """Parent-side handle of the sim server process (start, state snapshot, placement)."""

    def __init__(
        self, cfg: dict[str, Any] | None = None, hostname: str = "127.0.0.1", realtime: float = 1.0
    ) -> None:
        self.cfg = load_config() if cfg is None else cfg
        self.hostname = hostname
        self.realtime = float(realtime)
        self.process: subprocess.Popen | None = None
        self.nq = 0
        self._shm: shared_memory.SharedMemory | None = None
        self._buf: np.ndarray | None = None
        self._events: queue.Queue = queue.Queue()
        self._next_id = 0

    def start(self, initial_poses: dict[str, Any] | None = None, timeout: float = 60.0) -> None:
        """Start the server process and wait until it listens; RuntimeError on failure."""
        self._shm = shared_memory.SharedMemory(create=True, size=_SHM_BYTES)
        self._buf = np.ndarray((_HEADER + MAX_QPOS,), dtype=np.float64, buffer=self._shm.buf)
        self._buf[:] = 0.0
        poses = {
            k: np.asarray(v, dtype=np.float64).tolist() for k, v in (initial_poses or {}).items()
        }
        cmd = [
            sys.executable,
            "-m",
            "vjepa2_world_model.sim.server",
            "--child",
            "--hostname",
            self.hostname,
            "--realtime",
            str(self.realtime),
            "--config-json",
            json.dumps(self.cfg),
            "--shm",
            self._shm.name,
            "--parent-pid",
            str(os.getpid()),
            "--initial-poses",
            json.dumps(poses),
        ]
        self.process = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            cwd=mujoco_log_dir(),
            env=_child_env(),
        )
        threading.Thread(target=self._read_events, args=(self.process,), daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                ev = self._events.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError("sim server process died during start") from None
                continue
            if ev.get("event") == "ready":
                self.nq = int(ev["nq"])
                return
            if ev.get("event") == "error":
                self.stop()
                raise RuntimeError(ev.get("message", "sim server error"))
        self.stop()
        raise RuntimeError(f"sim server did not start within {timeout:.0f} s")

    def _read_events(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            line = line.strip()
            if line.startswith("{"):
                try:
                    self._events.put(json.loads(line))
                except json.JSONDecodeError:
                    pass

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def snapshot(self) -> tuple[int, float, np.ndarray]:
        """(sequence number, sim time s, qpos copy) of the latest mirrored state."""
        if self._buf is None:
            raise RuntimeError("sim server not started")
        buf = self._buf
        for _ in range(1000):
            s1 = buf[0]
            if int(s1) % 2 == 0:
                t = float(buf[1])
                qpos = buf[_HEADER : _HEADER + self.nq].copy()
                if buf[0] == s1:
                    return int(s1) // 2, t, qpos
            time.sleep(0.0001)
        raise RuntimeError("could not read a consistent sim state")

    def place(self, poses: dict[str, Any], timeout: float = 5.0) -> dict[str, list[float]]:
        """Teleport objects (name -> free-joint qpos (7,)); returns all object poses after."""
        if not self.alive:
            raise RuntimeError("sim server is not running")
        self._next_id += 1
        req = {
            "cmd": "place",
            "id": self._next_id,
            "poses": {k: np.asarray(v, float).tolist() for k, v in poses.items()},
        }
        self.process.stdin.write(json.dumps(req) + "\n")
        self.process.stdin.flush()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                ev = self._events.get(timeout=0.1)
            except queue.Empty:
                continue
            if ev.get("event") == "placed" and ev.get("id") == self._next_id:
                return ev["poses"]
        raise RuntimeError("sim server did not answer the placement request")

    def stop(self, timeout: float = 5.0) -> None:
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        if self._shm is not None:
            self._buf = None
            self._shm.close()
            try:
                self._shm.unlink()
            except FileNotFoundError:
                pass
            self._shm = None

    def __enter__(self) -> SimServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the sim server (no camera/ROS) until Ctrl+C; ``--child`` = internal mode."""
    ap = argparse.ArgumentParser(description="franky-sim server with the vjepa2 cell scene")
    ap.add_argument("--config", default=None, help="sim cell YAML (default config/sim_cell.yaml)")
    ap.add_argument("--hostname", default="127.0.0.1")
    ap.add_argument("--realtime", type=float, default=1.0)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--config-json", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--shm", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--parent-pid", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--initial-poses", default="{}", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    cfg = json.loads(args.config_json) if args.config_json else load_config(args.config)
    if args.child:
        return run_child(
            cfg,
            args.hostname,
            args.shm,
            args.realtime,
            args.parent_pid,
            json.loads(args.initial_poses),
        )
    proc = SimServerProcess(cfg, args.hostname, args.realtime)
    proc.start()
    print(f"sim server listening on {args.hostname} (robot 1337, gripper 1338)", flush=True)
    try:
        while proc.alive:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        proc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
