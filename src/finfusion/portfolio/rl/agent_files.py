"""The files of a saved RL agent: safetensors weights and JSON settings, never a pickle.

A saved agent is a directory of

    agent.json          format, format_version, variant, AgentConfig, EnvConfig, standardizer,
                        best_epoch, A2C's n_steps / n_envs, the observation and action spaces
    policy.safetensors  the SB3 policy's state dict (tensors shared between the policy's
                        features-extractor aliases stored once: safetensors' save_model)
    curve.csv           the training curve

`TrainedAgent.load` (agents.py) rebuilds the policy from agent.json and loads the weights into it;
nothing is unpickled. Directories written by older versions hold `model.zip` (stable-baselines3's
`model.save`, whose data is cloudpickled) and are refused with an error saying how to retrain.

This module knows the files, not the agents: agents.py builds the model and calls these helpers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pandas as pd
from safetensors.torch import load_model, save_model
from torch import nn

from finfusion.errors import ConfigError
from finfusion.io import atomic_write, read_json, write_json

FORMAT = "finfusion-rl-agent"
FORMAT_VERSION = 2  # 1: model.zip (pickled by stable-baselines3), before this format
META_FILE = "agent.json"
WEIGHTS_FILE = "policy.safetensors"
CURVE_FILE = "curve.csv"
OLD_MODEL_FILE = "model.zip"
REQUIRED_KEYS = ("variant", "config", "settings", "standardizer", "best_epoch", "n_steps", "n_envs", "policy_class",
                 "observation_space", "action_space")


def write_agent_files(directory: str | Path, meta: Mapping[str, Any], policy: nn.Module, curve: pd.DataFrame) -> Path:
    """Write the agent directory. agent.json is removed first and written last, each file atomically,
    so that an interrupted save reads as "no saved agent" rather than as a mixed one. A model.zip
    left by an older version (a different, pickled agent) is removed."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    (out / META_FILE).unlink(missing_ok=True)
    atomic_write(out / WEIGHTS_FILE, lambda p: save_model(policy, str(p)))
    atomic_write(out / CURVE_FILE, lambda p: curve.to_csv(p, index=False))
    (out / OLD_MODEL_FILE).unlink(missing_ok=True)
    write_json(out / META_FILE, {"format": FORMAT, "format_version": FORMAT_VERSION, "weights": WEIGHTS_FILE,
                                 "curve": CURVE_FILE, **meta})
    return out


def read_agent_meta(directory: str | Path) -> dict[str, Any]:
    """agent.json of a saved agent, after checking the directory holds this format's files."""
    src = Path(directory)
    meta_path, old_path = src / META_FILE, src / OLD_MODEL_FILE
    if not src.is_dir():
        raise FileNotFoundError(f"no saved agent in {str(src)!r}: the directory does not exist")
    meta = read_json(meta_path) if meta_path.is_file() else None
    if old_path.is_file() and (meta is None or "format" not in meta):
        raise ConfigError(old_format_message(old_path))
    if meta is None:
        raise FileNotFoundError(f"no saved agent in {str(src)!r}: {META_FILE} is missing "
                                "(never saved there, or the save was interrupted)")
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise ConfigError(f"{meta_path}: format {meta.get('format')!r} version {meta.get('format_version')!r}, "
                          f"expected {FORMAT!r} version {FORMAT_VERSION}")
    missing = [key for key in REQUIRED_KEYS if key not in meta]
    if missing:
        raise ConfigError(f"{meta_path}: keys {missing} are missing")
    if not (src / WEIGHTS_FILE).is_file():
        raise FileNotFoundError(f"{src / WEIGHTS_FILE} is missing: {meta_path} names it as the agent's weights")
    return meta


def old_format_message(path: Path) -> str:
    agent_dir = path.parent
    return (f"{path} was written by an older version of finfusion that saved RL agents with pickle "
            f"(stable-baselines3's model.save); finfusion never unpickles model files, so it cannot load it. "
            f"Retrain the agent: train_agent(...) and agent.save({str(agent_dir)!r}) write {WEIGHTS_FILE} + "
            f"{META_FILE}; for an agent of an experiment run, delete {str(agent_dir)!r} and continue the run "
            f"with `finfusion run --resume RUN_DIR`, which retrains the agents it lacks.")


def load_policy_weights(policy: nn.Module, directory: str | Path, *, device: str = "cpu") -> None:
    """Load policy.safetensors into `policy` (strict: every tensor present and of the same shape)."""
    path = Path(directory) / WEIGHTS_FILE
    try:
        load_model(policy, path, strict=True, device=device)
    except RuntimeError as exc:  # missing / unexpected keys, size mismatch
        raise ConfigError(f"{path}: the weights do not fit the policy that {Path(directory) / META_FILE} "
                          f"describes: {exc}") from exc
    except Exception as exc:  # safetensors' own errors: a truncated or foreign file
        raise ConfigError(f"{path}: not a readable safetensors file ({type(exc).__name__}: {exc})") from exc


def spaces_to_json(observation_space: gym.Space, action_space: gym.Space) -> dict[str, Any]:
    """The policy's spaces: a Dict of Boxes (MultiInputPolicy) and a Box."""
    if not (isinstance(observation_space, gym.spaces.Dict)
            and all(isinstance(s, gym.spaces.Box) for s in observation_space.spaces.values())
            and isinstance(action_space, gym.spaces.Box)):
        raise ConfigError(f"cannot save an agent with observation space {observation_space} and action space "
                          f"{action_space}: expected a Dict of Boxes and a Box")
    return {"observation_space": {k: _box_to_json(s) for k, s in observation_space.spaces.items()},
            "action_space": _box_to_json(action_space)}


def spaces_from_json(meta: Mapping[str, Any], path: Path) -> tuple[gym.spaces.Dict, gym.spaces.Box]:
    try:
        obs = gym.spaces.Dict({k: _box_from_json(v) for k, v in meta["observation_space"].items()})
        return obs, _box_from_json(meta["action_space"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: observation_space / action_space unreadable ({type(exc).__name__}: {exc})") from exc


class SpacesEnv(gym.Env):
    """A stand-in env of given spaces: what a loaded agent's A2C is built on. It has no market
    data, so it refuses to reset or step (give the model a real env with `model.set_env`)."""

    def __init__(self, observation_space: gym.spaces.Dict, action_space: gym.spaces.Box) -> None:
        self.observation_space = observation_space
        self.action_space = action_space

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        raise RuntimeError("a loaded agent's model has no training env: call model.set_env(...) with "
                           f"{self.observation_space} before learn(); agent.run(data) needs none")

    def step(self, action):
        raise RuntimeError("a loaded agent's model has no training env: call model.set_env(...) before learn()")


def _box_to_json(box: gym.spaces.Box) -> dict[str, Any]:
    return {"shape": list(box.shape), "dtype": str(box.dtype), "low": _bound_to_json(box.low),
            "high": _bound_to_json(box.high)}


def _box_from_json(obj: Mapping[str, Any]) -> gym.spaces.Box:
    shape, dtype = tuple(int(n) for n in obj["shape"]), np.dtype(obj["dtype"])
    low, high = _bound_from_json(obj["low"], shape, dtype), _bound_from_json(obj["high"], shape, dtype)
    return gym.spaces.Box(low, high, shape, dtype)


def _bound_to_json(values: np.ndarray) -> Any:
    """One number when all equal (the usual case), else the flat list; infinities as "inf" / "-inf"
    (plain JSON has no Infinity)."""
    flat = np.asarray(values, dtype="float64").ravel()
    if np.isnan(flat).any():
        raise ConfigError("cannot save a space with a NaN bound")
    numbers = [float(x) if np.isfinite(x) else ("inf" if x > 0 else "-inf") for x in flat]
    return numbers[0] if flat.size and (flat == flat[0]).all() else numbers


def _bound_from_json(value: Any, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    if isinstance(value, list):
        return np.array([float(v) for v in value], dtype=dtype).reshape(shape)
    return np.full(shape, float(value), dtype=dtype)
