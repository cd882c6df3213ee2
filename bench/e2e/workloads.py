"""The end-to-end benchmark's workloads, shared by bench/e2e/bench.py (the CPU
benchmark against the DataLoader and DALI) and bench/gpu_check.sh (the same
workloads on a GPU): each one's ops as biofeed job YAML, its batch size,
measured batches and the kind the baselines implement. Standard library only:
gpu_check.sh runs it with the system python.

  workloads.py NAME DATASET [DEVICE [MEMORY_LIMIT]]   prints NAME's job config
                                                      (device auto, 8G by default)
"""
import os
import sys

WORKLOADS = {
    "dna-1kb": dict(kind="dna", data="dna", batch=32, steps=int(os.environ.get("STEPS_DNA1K", 1500)), window=1024, yaml="""
sequence: {tokenizer: dna, max_len: 1024, case: upper, window: {length: 1024, mode: random}, rc: 0.5,
           mlm: {p: 0.15, mask: 0.8, random: 0.1}}"""),
    "dna-32kb": dict(kind="dna", data="dna", batch=8, steps=int(os.environ.get("STEPS_DNA32K", 200)), window=32768, yaml="""
sequence: {tokenizer: dna, max_len: 32768, case: upper, window: {length: 32768, mode: random}, rc: 0.5,
           mlm: {p: 0.15, mask: 0.8, random: 0.1}}"""),
    "protein-mlm": dict(kind="protein", data="protein", batch=32, steps=int(os.environ.get("STEPS_PROT", 1000)), sampling=", batching: bucket, bucket_window: 16", yaml="""
sequence: {tokenizer: esm2, max_len: 1024, padding: longest, truncation: random, mlm: {p: 0.15, mask: 0.8, random: 0.1}}"""),
    "img-2d": dict(kind="2d", data="img", batch=16, steps=int(os.environ.get("STEPS_2D", 60)), yaml="""
image:
  ops:
    - crop: {size: [256, 256], mode: random}
    - flip: {axes: [y, x], prob: 0.5}
    - normalize: {mode: percentile, pmin: 1, pmax: 99.8}
    - noise: {prob: 1, sigma: [0, 0.1]}
  output: {dtype: float32, layout: channels_first}"""),
    "vol-3d": dict(kind="3d", data="vol", batch=2, steps=int(os.environ.get("STEPS_3D", 12)), yaml="""
image:
  ops:
    - crop: {size: [128, 128, 128], mode: random}
    - affine: {prob: 1, rotate: [-15, 15], scale: [0.85, 1.25]}
    - elastic: {prob: 1, spacing: 32, magnitude: [2, 5]}
  output: {dtype: float32, layout: channels_first}"""),
}


def job_yaml(w, datasets, batch=None, device="cpu", prefetch=4, drop_last=True, memory="4G", workers=None):
    """Workload w's job config over the given dataset paths."""
    io = f"io: {{engine: auto, workers: {workers}}}\n" if workers else ""
    return f"""seed: 0
datasets: [{", ".join(datasets)}]
batch_size: {batch or w['batch']}
sampling: {{order: global, drop_last: {str(drop_last).lower()}{w.get('sampling', '')}}}
device: {device}
prefetch: {prefetch}
memory_limit: {memory}
{io}""" + w["yaml"].lstrip("\n") + "\n"


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4, 5) or sys.argv[1] not in WORKLOADS:
        sys.exit(__doc__ + "\nworkloads: " + ", ".join(WORKLOADS))
    print(job_yaml(WORKLOADS[sys.argv[1]], [sys.argv[2]], device=sys.argv[3] if len(sys.argv) > 3 else "auto",
                   memory=sys.argv[4] if len(sys.argv) > 4 else "8G"), end="")
