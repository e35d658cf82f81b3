"""Training configuration: one JSON file per shipped model.

Example (configs/srcnn-jpeg-ds2.json)::

    {"name": "srcnn-jpeg-ds2", "container_id": 1,
     "arch": "srcnn", "arch_config": {"in_channels": 3},
     "slot": {"role": "post", "method": "downsample", "codec": "jpeg", "scale": 2, "bpp": [0.05, 0.5]},
     "data": {"roots": ["../shared/data/train_bsds432", ...], "holdout_every": 25,
              "bpps": [0.1, 0.15, 0.2, 0.3, 0.4], "bpps_per_image": 2, "max_side": 512,
              "patch": 48, "patches_per_pair": 8},
     "train": {"steps": 6000, "batch": 32, "lr": 1e-3, "lr_final": 1e-5, "loss": "l1",
               "seed": 0, "val_every": 500}}
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class DataConfig:
    roots: list[str]
    holdout_every: int = 25
    bpps: list[float] = field(default_factory=lambda: [0.1, 0.15, 0.2, 0.3, 0.4])
    bpps_per_image: int = 2
    max_side: int = 512
    patch: int = 48
    patches_per_pair: int = 8
    max_images: int | None = None
    val_bpps: list[float] = field(default_factory=lambda: [0.1, 0.2, 0.3])
    val_crop: int = 256
    #: the encoder's ``tune`` the patches are coded with: ``ssim`` replays a model trained before
    #: the codec's ``tune="psnr"`` settings changed (the libraries' own settings; jpeg: the
    #: standard's tables)
    tune: str = "psnr"
    #: more patch sets to train on: the same data config drawn with each of these seeds (other
    #: crops, rates, image subsets), each cached on its own and joined to the one of
    #: ``train.seed``. Validation stays that of ``train.seed`` (it does not depend on the seed).
    extra_seeds: list[int] = field(default_factory=list)
    #: draw each training image's crop, rates and patch positions from its own generator
    #: (seeded by ``train.seed`` and the image's index), so the images are coded in parallel
    #: (one process per core; the patches do not depend on the number of processes). Off: the
    #: one sequential generator of the caches made before it existed, whose keys stay valid.
    per_image_rng: bool = False

    def __post_init__(self) -> None:
        from ..codecs.base import TUNES

        if self.tune not in TUNES:
            raise ValueError(f"data.tune must be one of {TUNES}, got {self.tune!r}")
        if not isinstance(self.extra_seeds, list) or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in self.extra_seeds
        ):
            raise ValueError(f"data.extra_seeds must be a list of non-negative integers, got {self.extra_seeds!r}")
        if not isinstance(self.per_image_rng, bool):
            raise ValueError(f"data.per_image_rng must be true or false, got {self.per_image_rng!r}")


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 6000
    batch: int = 32
    lr: float = 1e-3
    lr_final: float = 1e-5
    loss: str = "l1"  # l1 | mse | l1+msssim
    msssim_weight: float = 0.05
    seed: int = 0
    val_every: int = 500
    threads: int | None = None
    #: None: torch's default initialisation; "he": He et al. (fan-in, ReLU) for every conv but
    #: the last, which starts at zero so that a residual net starts as the identity. Deep plain
    #: nets (12 x 48) stay stuck at the identity from torch's default initialisation.
    init: str | None = None
    #: "bf16": the forward and backward passes run under bfloat16 autocast (about 2x the steps per
    #: second on a CPU with native bfloat16); weights, optimizer and validation stay float32
    amp: str | None = None

    def __post_init__(self) -> None:
        if self.amp not in (None, "bf16"):
            raise ValueError(f"train.amp must be \"bf16\" or absent, got {self.amp!r}")


@dataclass(frozen=True)
class Config:
    name: str
    container_id: int
    arch: str
    arch_config: dict[str, Any]
    slot: dict[str, Any]
    data: DataConfig
    train: TrainConfig
    init_from: str | None = None  # a published model to start from (easy-to-hard transfer)
    # init_from is a smaller net of the same family: grow its weights to arch_config (Net2Net)
    grow: bool = False
    # published models of the same slot validated on the same images; publishing needs a higher gain
    compare_with: list[str] = field(default_factory=list)
    path: str = ""

    @property
    def codec(self) -> str:
        return self.slot["codec"]

    @property
    def method(self) -> str:
        return self.slot["method"]

    @property
    def scale(self) -> int:
        return int(self.slot.get("scale", 1))

    def __post_init__(self) -> None:
        seeds = [self.train.seed, *self.data.extra_seeds]
        if len(set(seeds)) != len(seeds):  # a seed twice would count its patches twice
            raise ValueError(f"data.extra_seeds must differ from each other and from train.seed "
                             f"({self.train.seed}), got {self.data.extra_seeds}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("path")
        return d


def refuse_extra_seeds(data: dict, kind: str) -> None:
    """``data.extra_seeds`` is read by the post-filter trainer only; other kinds refuse it."""
    if data.get("extra_seeds"):
        raise ValueError(f"data.extra_seeds works with post-filter configs only, not with {kind} ones")


def configs_folder(path: str) -> str | None:
    """The ``configs`` folder that holds ``path`` (at any depth, e.g. ``configs/experiments/x.json``), or None."""
    probe = os.path.dirname(os.path.abspath(path))
    while os.path.basename(probe) and os.path.basename(probe) != "configs":
        probe = os.path.dirname(probe)
    return probe if os.path.basename(probe) == "configs" else None


def config_base(path: str) -> str:
    """The folder that relative data roots start from: the parent of the ``configs`` folder
    that holds ``path`` (:func:`configs_folder`), else the parent of the config file's own folder."""
    root = configs_folder(path)
    return os.path.dirname(root) if root else os.path.dirname(os.path.dirname(os.path.abspath(path)))


def resolve_data(raw_data: dict, path: str) -> dict:
    """``raw_data`` with its relative roots made absolute (see :func:`config_base`)."""
    base = config_base(path)
    data = dict(raw_data)
    data["roots"] = [r if os.path.isabs(r) else os.path.normpath(os.path.join(base, r)) for r in data["roots"]]
    return data


def _names(value: Any, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{key} must be a list of model names, got {value!r}")
    return list(value)


def _grow(raw: dict) -> bool:
    grow = raw.get("grow", False)
    if not isinstance(grow, bool):
        raise ValueError(f"grow must be true or false, got {grow!r}")
    if grow and not raw.get("init_from"):
        raise ValueError("grow needs init_from: the smaller model to grow")
    return grow


def load_config(path: str) -> Config:
    """Read a JSON config; relative data roots are resolved by :func:`config_base`."""
    with open(path) as f:
        raw = json.load(f)
    data = resolve_data(raw["data"], path)
    return Config(
        name=raw["name"],
        container_id=int(raw["container_id"]),
        arch=raw["arch"],
        arch_config=dict(raw.get("arch_config", {})),
        slot=dict(raw["slot"]),
        data=DataConfig(**data),
        train=TrainConfig(**raw.get("train", {})),
        init_from=raw.get("init_from"),
        grow=_grow(raw),
        compare_with=_names(raw.get("compare_with", []), "compare_with"),
        path=os.path.abspath(path),
    )
