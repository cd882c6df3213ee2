"""Baselines for bench/seq: the same sequence ops as seq_bench.c, written as
plain Python (what a Dataset.__getitem__ typically does) and, where the
library applies, with Hugging Face `tokenizers` (character level through a
merge-free BPE, as DNA and protein tokenizers are built with it; k-mers
through WordLevel after DNABERT's seq2kmer). Reads the corpus seq_bench.c
wrote to DIR and prints one tab-separated line per op and implementation:
op, impl, tokens, input bytes, seconds (best of RUNS). Each baseline runs on
a slice of the corpus; rates are per token, so slices compare fairly."""

import os
import random
import sys
import time

DNA = "ACGTNRYSWKMBDHV-"
DNA_IDS = {c: i for i, c in enumerate(DNA, 5)}  # the dna preset
ESM = "LAGVSERTIDPKQNFYMHWCXBUZO.-"
ESM_IDS = {c: i for i, c in enumerate(ESM, 4)}
COMP = str.maketrans("ACGTURYSWKMBDHVNacgturyswkmbdhvn", "TGCAAYRSWMKVHDBNtgcaayrswmkvhdbn")
ORDER = "ATCG"


def kmers(k):
    out = [""]
    for _ in range(k):
        out = [p + c for p in out for c in ORDER]
    return out


KMER6 = {m: i for i, m in enumerate(kmers(6), 5)}  # dnabert, k = 6
NT6 = {m: i for i, m in enumerate(kmers(6), 4)}
NT_SINGLE = {"A": 4100, "T": 4101, "C": 4102, "G": 4103, "N": 4104}
ONEHOT = {"A": [1.0, 0.0, 0.0, 0.0], "C": [0.0, 1.0, 0.0, 0.0], "G": [0.0, 0.0, 1.0, 0.0], "T": [0.0, 0.0, 0.0, 1.0]}
ZERO4 = [0.0, 0.0, 0.0, 0.0]
L = 1024


def pad(ids, n, value):
    return ids + [value] * (n - len(ids))


def py_char(recs):
    return [pad([DNA_IDS.get(c, 1) for c in s.upper()], L, 0) for s in recs]


def py_char_attn(recs):
    out = []
    for s in recs:
        ids = [DNA_IDS.get(c, 1) for c in s.upper()]
        out.append((pad(ids, L, 0), pad([1] * len(ids), L, 0)))
    return out


def py_esm(recs):
    out = []
    for s in recs:
        ids = [0] + [ESM_IDS.get(c, 3) for c in s.upper()] + [2]
        out.append((pad(ids, 602, 1), pad([1] * len(ids), 602, 0)))
    return out


def py_revcomp(recs):
    return [pad([DNA_IDS.get(c, 1) for c in s.translate(COMP)[::-1].upper()], L, 0) for s in recs]


def py_softmask(recs):
    return [(pad([DNA_IDS.get(c, 1) for c in s.upper()], L, 0), pad([int(c.islower()) for c in s], L, 0)) for s in recs]


def py_kmer6(recs):
    out = []
    for s in recs:
        u = s.upper()
        out.append(pad([2] + [KMER6.get(u[i:i + 6], 1) for i in range(len(u) - 5)] + [3], L, 0))
    return out


def py_nt6(recs):
    out = []
    for s in recs:
        ids = [3]
        parts = s.upper().split("N")
        for j, part in enumerate(parts):
            full = len(part) // 6 * 6
            ids += [NT6.get(part[i:i + 6], 0) for i in range(0, full, 6)]
            ids += [NT_SINGLE.get(c, 0) for c in part[full:]]
            if j + 1 < len(parts):
                ids.append(4104)
        out.append(pad(ids[:L], L, 1))
    return out


def py_onehot(recs):
    return [[ONEHOT.get(c, ZERO4) for c in s.upper()] + [ZERO4] * (L - len(s)) for s in recs]


def mlm(ids, rng, lo, hi, picked):
    labels = [-100] * len(ids)
    for i in range(lo, hi):
        if picked[i]:
            labels[i] = ids[i]
            u = rng.random()
            if u < 0.8:
                ids[i] = 4
            elif u < 0.9:
                ids[i] = rng.randrange(5, 9)
    return ids, labels


def py_mlm(recs):
    rng = random.Random(1)
    out = []
    for s in recs:
        ids = pad([DNA_IDS.get(c, 1) for c in s.upper()], L, 0)
        picked = [rng.random() < 0.15 for _ in range(len(s))]
        out.append(mlm(ids, rng, 0, len(s), picked))
    return out


def py_span_mlm(recs):
    rng = random.Random(1)
    out = []
    for s in recs:
        ids = py_kmer6([s])[0]
        hi = len(s) - 4  # [CLS] + len - 5 k-mers
        picked = [False] * len(ids)
        for c in range(1, hi):
            if rng.random() < 0.025:
                for o in (-2, -1, 0, 1, 2, 3):
                    if 1 <= c + o < hi:
                        picked[c + o] = True
        out.append(mlm(ids, rng, 1, hi, picked))
    return out


def py_windows(chrom, n):
    rng = random.Random(1)
    out = []
    last = len(chrom) - L
    for _ in range(n):
        best, best_n = 0, L + 1
        for _ in range(16):
            s = rng.randint(0, last)
            ns = chrom.count("N", s, s + L) + chrom.count("n", s, s + L)
            if ns <= 0.1 * L:
                best = s
                break
            if ns < best_n:
                best, best_n = s, ns
        s = min(max(best + rng.randint(-3, 3), 0), last)
        out.append([DNA_IDS.get(c, 1) for c in chrom[s:s + L].upper()])
    return out


def hf_char_tokenizer(alphabet, first, unk, pad_id, pad_token, template=None):
    from tokenizers import Tokenizer, models, processors

    vocab = {c: i for i, c in enumerate(alphabet, first)}
    vocab[pad_token] = pad_id
    vocab["[UNK]"] = unk
    for name, i in template or ():
        vocab[name] = i
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="[UNK]"))
    if template:
        cls, eos = template
        tok.post_processor = processors.TemplateProcessing(single=f"{cls[0]} $A {eos[0]}", special_tokens=[cls, eos])
    return tok


def hf_encode(tok, texts, length, pad_id):
    tok.enable_padding(length=length, pad_id=pad_id)
    enc = tok.encode_batch(texts)
    return [(e.ids, e.attention_mask) for e in enc]


def best_of(runs, fn):
    best = float("inf")
    result = None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main():
    out_dir, runs = sys.argv[1], int(sys.argv[2])
    read = lambda name: open(os.path.join(out_dir, name)).read().split("\n")[:-1]
    dna, prot, chrom = read("dna.txt"), read("protein.txt"), read("chrom.txt")[0]
    n = 512
    d, p = dna[:n], prot[:n]
    dna_bytes, prot_bytes = sum(map(len, d)), sum(map(len, p))
    cases = [
        ("char", d, dna_bytes, lambda: py_char(d), lambda r: sum(map(len, d))),
        ("char+attn", d, dna_bytes, lambda: py_char_attn(d), lambda r: sum(map(len, d))),
        ("esm2 (cls/eos, attn)", p, prot_bytes, lambda: py_esm(p), lambda r: sum(len(s) + 2 for s in p)),
        ("revcomp+char", d, dna_bytes, lambda: py_revcomp(d), lambda r: sum(map(len, d))),
        ("softmask", d, dna_bytes, lambda: py_softmask(d), lambda r: sum(map(len, d))),
        ("kmer6 (dnabert)", d, dna_bytes, lambda: py_kmer6(d), lambda r: sum(len(s) - 3 for s in d)),
        ("nt6 (split at N)", d, dna_bytes, lambda: py_nt6(d), lambda r: sum(sum(1 for t in ids if t != 1) for ids in r)),
        ("onehot f32", d, dna_bytes, lambda: py_onehot(d), lambda r: sum(map(len, d))),
        ("mlm 15%", d, dna_bytes, lambda: py_mlm(d), lambda r: sum(map(len, d))),
        ("span mlm (dnabert6)", d, dna_bytes, lambda: py_span_mlm(d), lambda r: sum(len(s) - 3 for s in d)),
        ("windows (N reject, shift)", None, n * L, lambda: py_windows(chrom, n), lambda r: n * L),
    ]
    for name, _, nbytes, fn, count in cases:
        t, r = best_of(runs, fn)
        print(f"{name}\tpython\t{count(r)}\t{nbytes}\t{t:.6f}", flush=True)

    try:
        import tokenizers  # noqa: F401
    except ImportError:
        print("#hf\tnot installed", flush=True)
        return
    hd = dna[:2048]
    hp = prot[:2048]
    char_tok = hf_char_tokenizer(DNA, 5, 1, 0, "[PAD]")
    esm_tok = hf_char_tokenizer(ESM, 4, 3, 1, "<pad>", (("<cls>", 0), ("<eos>", 2)))
    t, _ = best_of(runs, lambda: hf_encode(char_tok, [s.upper() for s in hd], L, 0))
    print(f"char+attn\thf-tokenizers\t{sum(map(len, hd))}\t{sum(map(len, hd))}\t{t:.6f}", flush=True)
    t, _ = best_of(runs, lambda: hf_encode(esm_tok, [s.upper() for s in hp], 602, 1))
    print(f"esm2 (cls/eos, attn)\thf-tokenizers\t{sum(len(s) + 2 for s in hp)}\t{sum(map(len, hp))}\t{t:.6f}", flush=True)

    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4, **KMER6}
    kt = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    kt.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    kt.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    seq2kmer = lambda s: " ".join(s[i:i + 6] for i in range(len(s) - 5))
    t, _ = best_of(runs, lambda: hf_encode(kt, [seq2kmer(s.upper()) for s in hd[:n]], L, 0))
    print(f"kmer6 (dnabert)\thf-tokenizers\t{sum(len(s) - 3 for s in hd[:n])}\t{sum(map(len, hd[:n]))}\t{t:.6f}", flush=True)


if __name__ == "__main__":
    main()
