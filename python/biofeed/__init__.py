"""biofeed: batches of genomes, proteins and biomedical images for training.

    import biofeed, torch

    loader = biofeed.Loader("configs/dna_pretrain.yaml")
    for epoch in range(3):
        for batch in loader:              # one epoch per loop
            ids = torch.from_dlpack(batch["ids"])   # no copy
            ...
    torch.save(loader.state_dict(), "loader.pt")

See help(biofeed.Loader).

Errors raise biofeed.Error (a RuntimeError) carrying the library's message;
its `status` attribute names the status, e.g. "BFD_ERR_FORMAT".
"""
import os

from ._biofeed import Error, Tensor
from ._biofeed import Loader as _CLoader
from ._biofeed import version as _library_version

__version__ = _library_version()
__all__ = ["Loader", "Tensor", "Error"]


def _is_path(config):
    if isinstance(config, os.PathLike):
        return True
    if "\n" in config:
        return False
    return os.path.isfile(config) or config.strip().endswith((".yaml", ".yml"))


def _call(obj, *names):
    """The first of obj's methods named in names, called without arguments."""
    for name in names:
        f = getattr(obj, name, None)
        if callable(f):
            return int(f())
    return None


def _layout_of(group, comm):
    """(rank, world size) of an existing process group: a torch.distributed
    ProcessGroup (rank(), size()), the torch.distributed module or any object
    with get_rank() and get_world_size() (the default group), or an mpi4py
    communicator (Get_rank(), Get_size()). Duck-typed: neither is imported."""
    src, what = (group, "group") if group is not None else (comm, "comm")
    rank = _call(src, "Get_rank", "get_rank", "rank")
    size = _call(src, "Get_size", "get_world_size", "size")
    if rank is None or size is None:
        raise TypeError(f"{what} must have Get_rank()/Get_size() (mpi4py), get_rank()/get_world_size() "
                        f"(torch.distributed) or rank()/size() (a torch ProcessGroup); "
                        f"{type(src).__name__} has neither")
    if size < 1 or not 0 <= rank < size:
        raise ValueError(f"{what} says rank {rank} of {size}: expected 0 <= rank < world size")
    return rank, size


class Loader(_CLoader):
    """Loader(config, rank=None, world_size=None, *, group=None, comm=None, base_dir=None)

    config is a job config (configs/*.yaml): a path, or YAML text. A
    pathlib.Path is a path. A str is a path when it names an existing file,
    or when it is one line ending in .yaml or .yml (so a missing file is
    reported as missing); any other str is YAML text, whose relative dataset
    paths are resolved against base_dir (default: the current directory).
    rank and world_size default to the config's `dist:` section, else the
    launcher's environment (torchrun, Slurm, MPI), else 0 and 1. Instead of
    them, pass the training script's own set-up: group= a torch.distributed
    process group (or the torch.distributed module itself, for the default
    group) or comm= an mpi4py communicator; the loader takes its rank and
    size from it. The loader's own communication (dist.mode broadcast and
    exchange) still runs over its dist.backend, not through that object.

    Iterating a Loader yields the batches of the current epoch; when it is
    exhausted, the next loop starts the next epoch. A loop left early
    (break) continues where it stopped the next time it is iterated, which
    is also how a loader continues after load_state_dict().

    Each batch is a dict {name: biofeed.Tensor} ("ids", "attention_mask",
    "image", "label", ...; see the job config notes). A Tensor implements
    __dlpack__ and __dlpack_device__, so torch.from_dlpack, numpy.from_dlpack,
    jax.dlpack.from_dlpack and cupy.from_dlpack view it without a copy. The
    memory stays valid as long as anything viewing it is alive; the loader
    keeps at most `prefetch` batches in flight, so holding on to many batches
    stalls it rather than growing memory.

    len(loader)              steps (batches) per epoch for this rank
    loader.position          (epoch, step) of the next batch
    loader.state_dict()      {"biofeed_state": bytes}; load_state_dict() resumes exactly
    loader.stats()           per-stage busy/stall times, bytes and records
    loader.faults()          corrupt records skipped and rows replaced (on_corrupt: skip)
    loader.close()           or use the loader as a context manager
    """

    def __init__(self, config, rank=None, world_size=None, *, group=None, comm=None, base_dir=None):
        if not isinstance(config, (str, os.PathLike)):
            raise TypeError(f"config must be a path or YAML text (str), not {type(config).__name__}")
        if group is not None or comm is not None:
            if group is not None and comm is not None:
                raise TypeError("give group= (torch.distributed) or comm= (mpi4py), not both")
            if rank is not None or world_size is not None:
                raise TypeError("rank and world_size come from group= or comm=; do not give them as well")
            rank, world_size = _layout_of(group, comm)
        r = -1 if rank is None else int(rank)
        w = -1 if world_size is None else int(world_size)
        if _is_path(config):
            if base_dir is not None:
                raise TypeError("base_dir is for YAML text; a config file's paths are relative to its folder")
            super().__init__(path=os.fspath(config), rank=r, world_size=w)
        else:
            super().__init__(yaml=config, base_dir=os.fspath(base_dir) if base_dir is not None else os.getcwd(),
                             rank=r, world_size=w)
