/* Sequence tokenizers on the CPU backend: every preset against hand-written
 * ids (ESM-2 specials, HyenaDNA, DNABERT 3- and 6-mers, the Nucleotide
 * Transformer split at N, byte level, every IUPAC code), case handling,
 * reverse complement, one-hot and its float16/bfloat16 rounding,
 * truncation and padding, bad input and vocabulary files. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ops/seq_onehot.h"
#include "support/seq_run.h"

/* Truncation for expect_row (tests that change it put it back). */
static int32_t row_truncation = BFD_SEQ_TRUNC_RIGHT;

/* Tokenizes one record with a preset and checks the row against want
 * (length and ids), the padding after it and the attention mask. */
static void expect_row(const char *preset, int32_t k, int32_t case_mode, float rc_p, const char *rec, int32_t max_len,
                       const int64_t *want, int32_t n_want) {
  bfdk_seq_vocab v;
  bfdk_seq_params p;
  int32_t *tab;
  assert_int_equal(sr_preset(preset, k, case_mode, &v, &p, &tab), 0);
  p.max_len = max_len;
  p.rc_p = rc_p;
  p.truncation = row_truncation;
  sr s;
  sr_init(&s, &rec, 1, 1, max_len);
  if (p.tok != BFD_SEQ_TOK_CHAR) s.out.onehot = NULL;
  assert_int_equal(sr_cpu(&s, &p, tab), BFD_OK);
  assert_int_equal(s.width, max_len);
  assert_int_equal(s.out.lengths[0], n_want);
  for (int32_t i = 0; i < n_want; i++) {
    if (s.out.ids[i] != want[i]) fail_msg("%s '%s': token %d is %lld, want %lld", preset, rec, i, (long long)s.out.ids[i], (long long)want[i]);
    assert_int_equal(s.out.attn[i], 1);
  }
  for (int32_t i = n_want; i < max_len; i++) {
    assert_int_equal(s.out.ids[i], v.pad);
    assert_int_equal(s.out.attn[i], 0);
  }
  sr_free(&s);
  free(tab);
  bfdk_seq_vocab_free(&v);
}

#define ROW(preset, k, case_mode, rc, rec, max_len, ...)                                   \
  do {                                                                                     \
    const int64_t want_[] = {__VA_ARGS__};                                                 \
    expect_row(preset, k, case_mode, rc, rec, max_len, want_, (int32_t)(sizeof want_ / sizeof want_[0])); \
  } while (0)

static void test_esm2(void **state) {
  (void)state;
  /* facebook/esm2_t6_8M_UR50D tokenizes "MKTAYIAK" as these ids. */
  ROW("esm2", 0, BFD_SEQ_CASE_UPPER, 0, "MKTAYIAK", 16, 0, 20, 15, 11, 5, 19, 12, 5, 15, 2);
  ROW("esm2", 0, BFD_SEQ_CASE_UPPER, 0, "mktayiak", 16, 0, 20, 15, 11, 5, 19, 12, 5, 15, 2);
  /* The rest of the alphabet, and bytes outside it (J, *, digits) as <unk>. */
  ROW("esm2", 0, BFD_SEQ_CASE_UPPER, 0, "LAGVSERTIDPKQNFYMHWCXBUZO.-J*1", 40, 0, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
      15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 3, 3, 3, 2);
  /* Truncation keeps <cls> and <eos>. */
  ROW("esm2", 0, BFD_SEQ_CASE_UPPER, 0, "MKTAYIAK", 6, 0, 20, 15, 11, 5, 2);
  ROW("esm2", 0, BFD_SEQ_CASE_UPPER, 0, "", 8, 0, 2);
}

static void test_hyenadna(void **state) {
  (void)state;
  ROW("hyenadna", 0, BFD_SEQ_CASE_UPPER, 0, "ACGTN", 8, 7, 8, 9, 10, 11, 1);
  ROW("hyenadna", 0, BFD_SEQ_CASE_UPPER, 0, "acgtRx", 8, 7, 8, 9, 10, 6, 6, 1);
}

static void test_dna_rna_iupac(void **state) {
  (void)state;
  /* Every IUPAC code has its own id; U is not DNA. */
  ROW("dna", 0, BFD_SEQ_CASE_UPPER, 0, "ACGTNRYSWKMBDHV-U", 24, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
      20, 1);
  ROW("dna", 0, BFD_SEQ_CASE_UPPER, 0, "acgtnryswkmbdhv", 24, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19);
  ROW("rna", 0, BFD_SEQ_CASE_UPPER, 0, "ACGUNRYSWKMBDHV-T", 24, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
      20, 1);
  /* Lowercase as N. */
  ROW("dna", 0, BFD_SEQ_CASE_N, 0, "ACgt", 8, 5, 6, 9, 9);
  /* Reverse complement, IUPAC-aware: RYKMBVDHSW -> WSDHBVKMRY. */
  ROW("dna", 0, BFD_SEQ_CASE_UPPER, 1.0f, "AACGTN", 8, 9, 5, 6, 7, 8, 8);
  ROW("dna", 0, BFD_SEQ_CASE_UPPER, 1.0f, "RYKMBVDHSW", 16, 13, 12, 17, 18, 16, 19, 14, 15, 10, 11);
  ROW("rna", 0, BFD_SEQ_CASE_UPPER, 1.0f, "AACGU", 8, 5, 6, 7, 8, 8);
}

static void test_dnabert(void **state) {
  (void)state;
  /* Ids from DNABERT's vocab.txt (k-mers listed in A,T,C,G order after 5 specials). */
  ROW("dnabert", 3, BFD_SEQ_CASE_UPPER, 0, "ACGTAC", 8, 2, 16, 50, 57, 23, 3);
  ROW("dnabert", 3, BFD_SEQ_CASE_UPPER, 0, "TTGCAN", 8, 2, 28, 35, 61, 1, 3);
  ROW("dnabert", 6, BFD_SEQ_CASE_UPPER, 0, "ACGTACGT", 8, 2, 727, 2896, 3378, 3);
  ROW("dnabert", 6, BFD_SEQ_CASE_UPPER, 0, "acgtacgt", 8, 2, 727, 2896, 3378, 3);
  /* Shorter than k: no k-mers, only the specials. */
  ROW("dnabert", 3, BFD_SEQ_CASE_UPPER, 0, "AC", 8, 2, 3);
  ROW("dnabert", 6, BFD_SEQ_CASE_UPPER, 0, "", 8, 2, 3);
  /* Reverse complement of ACGTAC is GTACGT: GTA TAC ACG CGT. */
  ROW("dnabert", 3, BFD_SEQ_CASE_UPPER, 1.0f, "ACGTAC", 8, 2, 57, 23, 16, 50, 3);
}

static void test_nucleotide_transformer(void **state) {
  (void)state;
  /* Split at N: AAAAAA + C C C | N | GGGGGG + T. */
  ROW("nt", 0, BFD_SEQ_CASE_UPPER, 0, "AAAAAACCCNGGGGGGT", 16, 3, 4, 4102, 4102, 4102, 4104, 4099, 4101);
  /* A 6-mer with another IUPAC code is <unk>; so is a single one. */
  ROW("nt", 0, BFD_SEQ_CASE_UPPER, 0, "ACGTRACC", 8, 3, 0, 4102, 4102);
  ROW("nt", 0, BFD_SEQ_CASE_UPPER, 0, "AR", 8, 3, 4100, 0);
  ROW("nt", 0, BFD_SEQ_CASE_UPPER, 0, "acgtacTTTTTT", 8, 3, 726, 1369);
  ROW("nt", 0, BFD_SEQ_CASE_N, 0, "ACGtac", 8, 3, 4100, 4102, 4103, 4104, 4104, 4104);
  ROW("nt", 0, BFD_SEQ_CASE_UPPER, 0, "NNAN", 8, 3, 4104, 4104, 4100, 4104);
  /* TGCATGNA reverse complemented is TNCATGCA: T | N | CATGCA. */
  ROW("nt", 0, BFD_SEQ_CASE_UPPER, 1.0f, "TGCATGNA", 8, 3, 4101, 4104, 2172);
  /* Truncation counts tokens, not bases; left truncation skips whole
   * 6-mers and single bases alike. */
  ROW("nt", 0, BFD_SEQ_CASE_UPPER, 0, "AAAAAACCCNGGGGGGT", 4, 3, 4, 4102, 4102);
  row_truncation = BFD_SEQ_TRUNC_LEFT;
  ROW("nt", 0, BFD_SEQ_CASE_UPPER, 0, "AAAAAACCCNGGGGGGT", 4, 3, 4104, 4099, 4101);
  ROW("nt", 0, BFD_SEQ_CASE_UPPER, 0, "AAAAAATTTTTTCCCCCCGG", 4, 3, 2734, 4103, 4103);
  ROW("nt", 0, BFD_SEQ_CASE_UPPER, 0, "AAAAAATTTTTTCCCCCC", 3, 3, 1369, 2734);
  ROW("dnabert", 3, BFD_SEQ_CASE_UPPER, 0, "ACGTAC", 4, 2, 57, 23, 3);
  row_truncation = BFD_SEQ_TRUNC_RIGHT;
}

static void test_byte_level(void **state) {
  (void)state;
  ROW("byte", 0, BFD_SEQ_CASE_UPPER, 0, "ACgt\x01", 8, 65, 67, 71, 84, 1);
}

/* One-sample run with softmask output. */
static void check_softmask(const char *preset, int32_t k, float rc_p, const char *rec, const uint8_t *want, int32_t n) {
  bfdk_seq_vocab v;
  bfdk_seq_params p;
  int32_t *tab;
  assert_int_equal(sr_preset(preset, k, BFD_SEQ_CASE_SOFTMASK, &v, &p, &tab), 0);
  p.max_len = 16;
  p.rc_p = rc_p;
  sr s;
  sr_init(&s, &rec, 1, 1, 16);
  if (p.tok != BFD_SEQ_TOK_CHAR) s.out.onehot = NULL;
  assert_int_equal(sr_cpu(&s, &p, tab), BFD_OK);
  assert_int_equal(s.out.lengths[0], n);
  for (int32_t i = 0; i < 16; i++) assert_int_equal(s.out.softmask[i], i < n ? want[i] : 0);
  sr_free(&s);
  free(tab);
  bfdk_seq_vocab_free(&v);
}

static void test_softmask_output(void **state) {
  (void)state;
  ROW("dna", 0, BFD_SEQ_CASE_SOFTMASK, 0, "ACgt", 8, 5, 6, 7, 8);
  check_softmask("dna", 0, 0, "ACgt", (const uint8_t[]){0, 0, 1, 1}, 4);
  check_softmask("dna", 0, 1.0f, "aaCG", (const uint8_t[]){0, 0, 1, 1}, 4);
  check_softmask("byte", 0, 0, "aC", (const uint8_t[]){1, 0}, 2);
  /* k-mers: soft if any base is; specials never. */
  check_softmask("dnabert", 3, 0, "ACGTa", (const uint8_t[]){0, 0, 0, 1, 0}, 5);
  check_softmask("nt", 0, 0, "ACGTAcGGNa", (const uint8_t[]){0, 1, 0, 0, 0, 1}, 6);
}

/* Reads a dna-preset row back as bases. */
static void decode_dna(const int64_t *ids, int32_t n, char *out) {
  static const char chars[] = "ACGTNRYSWKMBDHV-";
  for (int32_t i = 0; i < n; i++) out[i] = ids[i] >= 5 && ids[i] <= 20 ? chars[ids[i] - 5] : '?';
  out[n] = 0;
}

static void test_rc_twice_is_identity(void **state) {
  (void)state;
  bfdk_seq_vocab v;
  bfdk_seq_params p;
  int32_t *tab;
  assert_int_equal(sr_preset("dna", 0, BFD_SEQ_CASE_UPPER, &v, &p, &tab), 0);
  const char *rec = "ACGTNRYSWKMBDHV-acgtnryswkmbdhvGATTACA";
  int32_t n = (int32_t)strlen(rec);
  p.max_len = 64;
  sr a;
  sr_init(&a, &rec, 1, 1, 64);
  assert_int_equal(sr_cpu(&a, &p, tab), BFD_OK);
  p.rc_p = 1.0f;
  sr b;
  sr_init(&b, &rec, 1, 1, 64);
  assert_int_equal(sr_cpu(&b, &p, tab), BFD_OK);
  char once[64];
  decode_dna(b.out.ids, n, once);
  assert_string_not_equal(once, "");
  const char *once_p = once;
  sr c;
  sr_init(&c, &once_p, 1, 1, 64);
  assert_int_equal(sr_cpu(&c, &p, tab), BFD_OK);
  assert_memory_equal(a.out.ids, c.out.ids, 64 * sizeof(int64_t));
  assert_memory_not_equal(a.out.ids, b.out.ids, (size_t)n * sizeof(int64_t));
  sr_free(&a);
  sr_free(&b);
  sr_free(&c);
  free(tab);
  bfdk_seq_vocab_free(&v);
}

static void test_onehot(void **state) {
  (void)state;
  bfdk_seq_vocab v;
  bfdk_seq_params p;
  int32_t *tab;
  assert_int_equal(sr_preset("dna", 0, BFD_SEQ_CASE_UPPER, &v, &p, &tab), 0);
  const char *rec = "ACGTNRYBacgtn-";
  const int32_t n = 14;
  p.max_len = 16;
  p.onehot_uniform = 1;
  sr a;
  sr_init(&a, &rec, 1, 1, 16);
  assert_int_equal(sr_cpu(&a, &p, tab), BFD_OK);
  const float *oh = a.out.onehot;
  const float third = 1.0f / 3.0f;
  const float want[14][4] = {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}, {.25f, .25f, .25f, .25f},
                             {.5f, 0, .5f, 0}, {0, .5f, 0, .5f}, {0, third, third, third}, {1, 0, 0, 0}, {0, 1, 0, 0},
                             {0, 0, 1, 0}, {0, 0, 0, 1}, {.25f, .25f, .25f, .25f}, {0, 0, 0, 0}};
  for (int i = 0; i < n; i++)
    for (int c = 0; c < 4; c++) assert_true(oh[i * 4 + c] == want[i][c]);
  for (int i = n * 4; i < 16 * 4; i++) assert_true(oh[i] == 0.0f);

  /* Reverse complement = both axes flipped (no specials, row = sequence). */
  p.rc_p = 1.0f;
  sr b;
  sr_init(&b, &rec, 1, 1, 16);
  assert_int_equal(sr_cpu(&b, &p, tab), BFD_OK);
  const float *ohr = b.out.onehot;
  for (int i = 0; i < n; i++)
    for (int c = 0; c < 4; c++) assert_true(ohr[i * 4 + c] == oh[(n - 1 - i) * 4 + (3 - c)]);

  /* N as zeros; half precision stores the same values. */
  p.rc_p = 0.0f;
  p.onehot_uniform = 0;
  p.onehot_dtype = BFD_SEQ_F16;
  sr h;
  sr_init(&h, &rec, 1, 1, 16);
  assert_int_equal(sr_cpu(&h, &p, tab), BFD_OK);
  const uint16_t *oh16 = h.out.onehot;
  assert_int_equal(oh16[0], 0x3c00);
  assert_int_equal(oh16[1], 0);
  for (int c = 0; c < 4; c++) assert_int_equal(oh16[4 * 4 + c], 0);
  p.onehot_dtype = BFD_SEQ_BF16;
  p.onehot_uniform = 1;
  assert_int_equal(sr_cpu(&h, &p, tab), BFD_OK);
  assert_int_equal(oh16[0], 0x3f80);
  assert_int_equal(oh16[4 * 4], 0x3e80);     /* 0.25 */
  assert_int_equal(oh16[7 * 4 + 1], 0x3eab); /* 1/3 rounded to nearest even */
  sr_free(&a);
  sr_free(&b);
  sr_free(&h);
  free(tab);
  bfdk_seq_vocab_free(&v);
}

static uint32_t xorshift(uint32_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 17;
  *s ^= *s << 5;
  return *s;
}

static float from_bits(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* binary16 reference in double arithmetic: scale to units of the target's
 * spacing, round with nearbyint (ties to even), encode the result. */
static uint16_t f16_ref(float f) {
  uint16_t sign = signbit(f) ? 0x8000 : 0;
  double a = fabs((double)f);
  if (a >= 65520.0) return sign | 0x7c00;
  int e;
  frexp(a, &e);
  int ue = e - 11 < -24 ? -24 : e - 11;
  double v = ldexp(nearbyint(ldexp(a, -ue)), ue);
  if (v == 0) return sign;
  frexp(v, &e);
  if (e - 1 < -14) return (uint16_t)(sign | (uint16_t)ldexp(v, 24));
  return (uint16_t)(sign | ((e - 1 + 15) << 10) | (uint16_t)(ldexp(v, 11 - e) - 1024));
}

/* bfloat16 reference: the nearer of the two neighbours, ties to even. */
static uint16_t bf16_ref(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  if (isnan(f)) return (uint16_t)((u >> 16) | 0x40);
  uint32_t lo = u & 0xffff0000u, hi = lo + 0x10000u;
  double dl = fabs((double)f - (double)from_bits(lo));
  double dh = isinf(from_bits(hi)) ? fabs((double)f - ldexp((u >> 31) ? -1.0 : 1.0, 128)) : fabs((double)f - (double)from_bits(hi));
  if (dl < dh || (dl == dh && !((lo >> 16) & 1))) return (uint16_t)(lo >> 16);
  return (uint16_t)(hi >> 16);
}

static void test_half_conversions(void **state) {
  (void)state;
  const struct {
    float f;
    uint16_t h, b;
  } fixed[] = {{0.0f, 0, 0},
               {-0.0f, 0x8000, 0x8000},
               {1.0f, 0x3c00, 0x3f80},
               {0.25f, 0x3400, 0x3e80},
               {65504.0f, 0x7bff, 0x4780},
               {65520.0f, 0x7c00, 0x4780},
               {1e-8f, 0, 0x322c},
               {5.9604645e-8f, 0x0001, 0x3380},
               {INFINITY, 0x7c00, 0x7f80},
               {-INFINITY, 0xfc00, 0xff80}};
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
    assert_int_equal(bfd_f32_to_f16(fixed[i].f), fixed[i].h);
    assert_int_equal(bfd_f32_to_bf16(fixed[i].f), fixed[i].b);
  }
  assert_int_equal(bfd_f32_to_f16(NAN) & 0x7e00, 0x7e00);
  assert_int_equal(bfd_f32_to_bf16(NAN) & 0x7fc0, 0x7fc0);
  /* Against the references above, over random bit patterns and over the
   * exponents around the float16 range (subnormals, overflow). */
  uint32_t seed = 12345;
  for (int i = 0; i < 2000000; i++) {
    uint32_t u = xorshift(&seed);
    if (i & 1) u = (u & 0x807fffffu) | ((uint32_t)(100 + (xorshift(&seed) % 48)) << 23);
    float f = from_bits(u);
    if (isnan(f)) continue;
    uint16_t hb = f16_ref(f);
    if (bfd_f32_to_f16(f) != hb) fail_msg("f16 of %a (0x%08x): 0x%04x, want 0x%04x", (double)f, u, bfd_f32_to_f16(f), hb);
    if (bfd_f32_to_bf16(f) != bf16_ref(f)) fail_msg("bf16 of %a: 0x%04x, want 0x%04x", (double)f, bfd_f32_to_bf16(f), bf16_ref(f));
  }
}

static void test_padding_and_truncation(void **state) {
  (void)state;
  bfdk_seq_vocab v;
  bfdk_seq_params p;
  int32_t *tab;
  assert_int_equal(sr_preset("esm2", 0, BFD_SEQ_CASE_UPPER, &v, &p, &tab), 0);
  /* Longest row (12 with specials) rounded up to 16. */
  const char *recs[] = {"MKT", "MKTAYIAKQR", ""};
  p.max_len = 20;
  p.pad_longest = 1;
  sr s;
  sr_init(&s, recs, 3, 3, 20);
  s.out.onehot = NULL;
  assert_int_equal(sr_cpu(&s, &p, tab), BFD_OK);
  assert_int_equal(s.width, 16);
  assert_int_equal(s.out.lengths[0], 5);
  assert_int_equal(s.out.lengths[1], 12);
  assert_int_equal(s.out.lengths[2], 2);
  assert_int_equal(s.out.ids[16 + 11], 2);
  assert_int_equal(s.out.ids[16 + 12], 1);
  assert_int_equal(s.out.ids[32 + 0], 0);
  assert_int_equal(s.out.ids[32 + 1], 2);
  assert_int_equal(s.out.attn[32 + 2], 0);

  /* Left truncation keeps the end; random keeps a contiguous piece, its
   * start varying with the sample, and both specials. */
  const char *prot = "ACDEFGHIKLMNPQRSTVWYACDEFGHIKLMNPQRSTVWY";
  p.pad_longest = 0;
  p.max_len = 6;
  p.truncation = BFD_SEQ_TRUNC_LEFT;
  sr l;
  sr_init(&l, &prot, 1, 1, 6);
  l.out.onehot = NULL;
  assert_int_equal(sr_cpu(&l, &p, tab), BFD_OK);
  const int64_t want_left[] = {0, 11, 7, 22, 19, 2}; /* <cls> T V W Y <eos> */
  assert_memory_equal(l.out.ids, want_left, sizeof want_left);
  p.truncation = BFD_SEQ_TRUNC_RANDOM;
  p.max_len = 12;
  sr r;
  sr_init(&r, &prot, 1, 64, 12);
  r.out.onehot = NULL;
  assert_int_equal(sr_cpu(&r, &p, tab), BFD_OK);
  int offsets_seen[41] = {0};
  int distinct = 0;
  size_t plen = strlen(prot);
  for (int b = 0; b < 64; b++) {
    const int64_t *row = r.out.ids + b * 12;
    assert_int_equal(row[0], 0);
    assert_int_equal(row[11], 2);
    int found = -1;
    for (size_t o = 0; o + 10 <= plen && found < 0; o++) {
      int ok = 1;
      for (int i = 0; i < 10 && ok; i++) ok = row[1 + i] == v.byte_id[(uint8_t)prot[o + i]];
      if (ok) found = (int)o;
    }
    assert_true(found >= 0);
    distinct += !offsets_seen[found]++;
  }
  assert_true(distinct >= 10);
  sr_free(&s);
  sr_free(&l);
  sr_free(&r);
  free(tab);
  bfdk_seq_vocab_free(&v);
}

static void test_vocab_file(void **state) {
  (void)state;
  bfdk_seq_vocab v;
  const char good[] = "<pad>\n<unk>\n<cls>\n<eos>\n<mask>\nA\nC\nG\nT\nAC\n";
  assert_int_equal(bfdk_seq_vocab_parse(good, sizeof good - 1, "v.txt", BFD_SEQ_TOK_CHAR, 0, 1, BFDK_SEQ_DNA, &v), BFD_OK);
  assert_int_equal(v.pad, 0);
  assert_int_equal(v.unk, 1);
  assert_int_equal(v.begin, 2);
  assert_int_equal(v.end, 3);
  assert_int_equal(v.mask, 4);
  assert_int_equal(v.byte_id['G'], 7);
  assert_int_equal(v.n_ord, 4);
  assert_int_equal(v.size, 10);
  bfdk_seq_params p;
  bfdk_seq_params_init(&p, &v);
  int32_t *tab;
  size_t nt;
  assert_int_equal(bfdk_seq_tables_build(&v, BFD_SEQ_CASE_UPPER, &tab, &nt), BFD_OK);
  p.max_len = 8;
  const char *rec = "GAtN";
  sr s;
  sr_init(&s, &rec, 1, 1, 8);
  assert_int_equal(sr_cpu(&s, &p, tab), BFD_OK);
  const int64_t want[] = {2, 7, 5, 8, 1, 3, 0, 0};
  assert_memory_equal(s.out.ids, want, sizeof want);
  sr_free(&s);
  free(tab);
  bfdk_seq_vocab_free(&v);

  /* k-mer vocabulary: 2-mers present map, absent ones are <unk>. */
  const char kv[] = "[PAD]\n[UNK]\nAA\nAC\nCA\n";
  assert_int_equal(bfdk_seq_vocab_parse(kv, sizeof kv - 1, "k.txt", BFD_SEQ_TOK_KMER, 2, 1, BFDK_SEQ_DNA, &v), BFD_OK);
  assert_int_equal(v.kmer[0], 2);
  assert_int_equal(v.kmer[1], 3);
  assert_int_equal(v.kmer[4], 4);
  assert_int_equal(v.kmer[5], -1);
  bfdk_seq_vocab_free(&v);

  const char gap[] = "<pad>\n<unk>\n\nA\n";
  assert_int_equal(bfdk_seq_vocab_parse(gap, sizeof gap - 1, "gap.txt", BFD_SEQ_TOK_CHAR, 0, 1, BFDK_SEQ_DNA, &v),
                   BFD_ERR_FORMAT);
  assert_non_null(strstr(bfd_last_error(), "gap.txt: line 3 is blank"));
  const char dup[] = "<pad>\n<unk>\nA\nC\nA\n";
  assert_int_equal(bfdk_seq_vocab_parse(dup, sizeof dup - 1, "dup.txt", BFD_SEQ_TOK_CHAR, 0, 1, BFDK_SEQ_DNA, &v),
                   BFD_ERR_FORMAT);
  assert_non_null(strstr(bfd_last_error(), "dup.txt: line 5 repeats the token 'A' of line 3"));
  const char nopad[] = "<unk>\nA\n";
  assert_int_equal(bfdk_seq_vocab_parse(nopad, sizeof nopad - 1, "np.txt", BFD_SEQ_TOK_CHAR, 0, 1, BFDK_SEQ_DNA, &v),
                   BFD_ERR_FORMAT);
  assert_non_null(strstr(bfd_last_error(), "no padding token"));
  const char nounk[] = "<pad>\nA\n";
  assert_int_equal(bfdk_seq_vocab_parse(nounk, sizeof nounk - 1, "nu.txt", BFD_SEQ_TOK_CHAR, 0, 1, BFDK_SEQ_DNA, &v),
                   BFD_ERR_FORMAT);
  assert_non_null(strstr(bfd_last_error(), "no unknown token"));
}

static void test_bad_settings(void **state) {
  (void)state;
  bfdk_seq_vocab v;
  bfdk_seq_params p;
  int32_t *tab;
  assert_int_equal(bfdk_seq_vocab_preset("dnabert", 7, &v), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "k = 3, 4, 5 or 6"));
  assert_int_equal(bfdk_seq_vocab_preset("gpt2", 0, &v), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "valid: dna, rna, esm2"));
  assert_int_equal(sr_preset("esm2", 0, BFD_SEQ_CASE_UPPER, &v, &p, &tab), 0);
  p.rc_p = 0.5f;
  assert_int_equal(bfdk_seq_params_check(&p, &v, BFD_SEQ_CASE_UPPER), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "rc:"));
  p.rc_p = 0;
  assert_int_equal(bfdk_seq_params_check(&p, &v, BFD_SEQ_CASE_N), BFD_ERR_INVALID_ARG);
  p.max_len = 2;
  assert_int_equal(bfdk_seq_params_check(&p, &v, BFD_SEQ_CASE_UPPER), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "max_len"));
  p.max_len = 16;
  p.shift = 3;
  assert_int_equal(bfdk_seq_params_check(&p, &v, BFD_SEQ_CASE_UPPER), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "shift"));
  p.shift = 0;
  p.mlm_span = 1;
  assert_int_equal(bfdk_seq_params_check(&p, &v, BFD_SEQ_CASE_UPPER), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "mlm.span"));
  p.mlm_span = 0;
  assert_int_equal(bfdk_seq_params_check(&p, &v, BFD_SEQ_CASE_UPPER), BFD_OK);
  free(tab);
  bfdk_seq_vocab_free(&v);
  /* Byte level has no mask token: no MLM. */
  assert_int_equal(sr_preset("byte", 0, BFD_SEQ_CASE_UPPER, &v, &p, &tab), 0);
  p.mlm_p = 0.15f;
  assert_int_equal(bfdk_seq_params_check(&p, &v, BFD_SEQ_CASE_UPPER), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "no mask token"));
  free(tab);
  bfdk_seq_vocab_free(&v);
  /* k-mers have no one-hot rows; MLM needs the labels output. */
  assert_int_equal(sr_preset("dnabert", 3, BFD_SEQ_CASE_UPPER, &v, &p, &tab), 0);
  const char *rec = "ACGT";
  sr s;
  sr_init(&s, &rec, 1, 1, 512);
  assert_int_equal(sr_cpu(&s, &p, tab), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "onehot"));
  s.out.onehot = NULL;
  int64_t *labels = s.out.labels;
  s.out.labels = NULL;
  p.mlm_p = 0.1f;
  assert_int_equal(sr_cpu(&s, &p, tab), BFD_ERR_INVALID_ARG);
  assert_non_null(strstr(bfd_last_error(), "labels"));
  s.out.labels = labels;
  sr_free(&s);
  free(tab);
  bfdk_seq_vocab_free(&v);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_esm2),
      cmocka_unit_test(test_hyenadna),
      cmocka_unit_test(test_dna_rna_iupac),
      cmocka_unit_test(test_dnabert),
      cmocka_unit_test(test_nucleotide_transformer),
      cmocka_unit_test(test_byte_level),
      cmocka_unit_test(test_softmask_output),
      cmocka_unit_test(test_rc_twice_is_identity),
      cmocka_unit_test(test_onehot),
      cmocka_unit_test(test_half_conversions),
      cmocka_unit_test(test_padding_and_truncation),
      cmocka_unit_test(test_vocab_file),
      cmocka_unit_test(test_bad_settings),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
