"""Offscreen rendering of a MuJoCo model from a copy of the simulation state.

Uses its own MjData: copy qpos (and mocap), ``mj_kinematics`` + ``mj_camlight``, render.
Set ``MUJOCO_GL=egl`` (done here if unset) before the first render on a headless machine.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco
import numpy as np


def stacked_views(cameras: dict) -> dict[str, list[tuple[str, float]]]:
    """The composite views of a cell config's ``cameras``: name -> [(camera, share)].

    A composite is an entry ``{stack: [[camera, share], ...]}``: the image is those
    cameras' renders stacked top to bottom, each taking ``share`` of the height (shares
    sum to 1), e.g. the exterior view above a wrist strip in one square frame."""
    out: dict[str, list[tuple[str, float]]] = {}
    for name, cam in cameras.items():
        if "stack" not in cam:
            continue
        parts = [(str(c), float(f)) for c, f in cam["stack"]]
        if not parts or abs(sum(f for _, f in parts) - 1.0) > 1e-6 or min(f for _, f in parts) <= 0:
            raise ValueError(f"camera {name!r}: stack shares must be > 0 and sum to 1")
        for c, _ in parts:
            if c not in cameras or "stack" in cameras[c]:
                raise ValueError(f"camera {name!r}: stacks unknown or composite camera {c!r}")
        out[name] = parts
    return out


class OffscreenRenderer:
    """Renders named cameras of ``model`` at any size; one GL context per size, reused.

    ``composites`` (from :func:`stacked_views`) adds stacked views rendered by name too."""

    def __init__(
        self,
        model: mujoco.MjModel,
        shadows: bool = False,
        composites: dict[str, list[tuple[str, float]]] | None = None,
    ) -> None:
        self.model = model
        self.data = mujoco.MjData(model)
        self.shadows = bool(shadows)
        self.composites = dict(composites or {})
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}

    def _renderer(self, width: int, height: int) -> mujoco.Renderer:
        key = (int(width), int(height))
        if key not in self._renderers:
            if width <= 0 or height <= 0:
                raise ValueError(f"render size must be positive, got {width}x{height}")
            vis = self.model.vis.global_
            if width > vis.offwidth or height > vis.offheight:
                raise ValueError(
                    f"render size {width}x{height} exceeds the offscreen buffer "
                    f"{vis.offwidth}x{vis.offheight}"
                )
            r = mujoco.Renderer(self.model, height=key[1], width=key[0])
            r.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = int(self.shadows)
            r.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
            self._renderers[key] = r
        return self._renderers[key]

    def set_state(
        self,
        qpos: np.ndarray,
        mocap_pos: np.ndarray | None = None,
        mocap_quat: np.ndarray | None = None,
    ) -> None:
        """Copy a state into the render MjData and update kinematics + camera/light poses."""
        self.data.qpos[:] = qpos
        if mocap_pos is not None and self.model.nmocap:
            self.data.mocap_pos[:] = mocap_pos
            self.data.mocap_quat[:] = mocap_quat
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_camlight(self.model, self.data)

    def render(
        self,
        camera: str = "ext_cam",
        width: int = 256,
        height: int = 256,
        source: mujoco.MjData | None = None,
    ) -> np.ndarray:
        """uint8 (height, width, 3) RGB image of ``camera``; copies ``source`` state first."""
        if source is not None:
            self.set_state(source.qpos, source.mocap_pos, source.mocap_quat)
        if camera in self.composites:
            parts, rows = self.composites[camera], []
            for i, (cam, share) in enumerate(self.composites[camera]):
                h = (
                    height - sum(r.shape[0] for r in rows)
                    if i == len(parts) - 1
                    else max(1, round(height * share))
                )
                rows.append(self.render(cam, width, h))
            return np.ascontiguousarray(np.vstack(rows))
        if mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, camera) < 0:
            raise ValueError(f"unknown camera {camera!r}")
        r = self._renderer(width, height)
        r.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = int(self.shadows)
        r.update_scene(self.data, camera=camera)
        return np.ascontiguousarray(r.render())

    def close(self) -> None:
        for r in self._renderers.values():
            r.close()
        self._renderers.clear()
