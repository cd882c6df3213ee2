/* Core: error messages and status names, CRC32C and XXH3 checksums,
 * whole-file writes that clean up after themselves, path helpers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "biofeed/shard.h"
#include "core/checksum.h"
#include "core/fileio.h"
#include "support/testutil.h"

static void test_error_message_and_wrap(void **state) {
  (void)state;
  assert_int_equal(bfdi_fail(BFD_ERR_FORMAT, "x.fa: line %d", 3), BFD_ERR_FORMAT);
  assert_string_equal(bfd_last_error(), "x.fa: line 3");
  assert_int_equal(bfdi_wrap(BFD_ERR_FORMAT, "pack"), BFD_ERR_FORMAT);
  assert_string_equal(bfd_last_error(), "pack: x.fa: line 3");
  assert_int_equal(bfdi_fail_errno(ENOSPC, "out.h5"), BFD_ERR_NO_SPACE);
  assert_non_null(strstr(bfd_last_error(), "No space left"));
  assert_int_equal(bfdi_fail_errno(ENOENT, "gone"), BFD_ERR_IO);
  assert_string_equal(bfd_status_name(BFD_ERR_CORRUPT), "BFD_ERR_CORRUPT");
  assert_string_equal(bfd_status_name((bfd_status)999), "BFD_ERR_UNKNOWN");
}

static int log_calls;
static void count_log(bfd_log_level l, const char *msg, void *user) {
  (void)l;
  (void)msg;
  (*(int *)user)++;
}

static void test_log_callback(void **state) {
  (void)state;
  assert_int_equal(bfd_set_log(count_log, &log_calls, BFD_LOG_WARN), BFD_OK);
  bfdi_log(BFD_LOG_INFO, "quiet");
  bfdi_log(BFD_LOG_WARN, "loud");
  assert_int_equal(log_calls, 1);
  assert_int_equal(bfd_set_log(NULL, NULL, (bfd_log_level)7), BFD_ERR_INVALID_ARG);
  assert_int_equal(bfd_set_log(NULL, NULL, BFD_LOG_INFO), BFD_OK);
  bfdi_log(BFD_LOG_ERROR, "nobody listens");
  assert_int_equal(log_calls, 1);
}

static void test_crc32c_vectors(void **state) {
  (void)state;
  assert_int_equal(bfdi_crc32c("123456789", 9), 0xe3069283u);
  assert_int_equal(bfdi_crc32c("", 0), 0u);
  uint8_t zeros[32] = {0};
  assert_int_equal(bfdi_crc32c(zeros, 32), 0x8a9136aau); /* RFC 3720 B.4 */
}

static void test_hash_file_matches_memory(void **state) {
  (void)state;
  char *d = tu_mkdtemp("core");
  size_t n = 9 << 20; /* more than one 4 MiB read block */
  uint8_t *buf = malloc(n);
  for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)(i * 2654435761u >> 13);
  const char *p = tu_path("%s/f", d);
  assert_int_equal(tu_write(p, buf, n), 0);
  char a[BFDI_HASH_HEX], b[BFDI_HASH_HEX];
  uint64_t size = 0;
  assert_int_equal(bfdi_hash_file(p, a, &size), BFD_OK);
  bfdi_xxh3_hex(buf, n, b);
  assert_string_equal(a, b);
  assert_int_equal(size, n);
  assert_int_equal(strlen(a), 32);
  buf[n / 2] ^= 1;
  bfdi_xxh3_hex(buf, n, b);
  assert_string_not_equal(a, b);
  assert_int_equal(bfdi_hash_file(tu_path("%s/missing", d), a, NULL), BFD_ERR_IO);
  assert_non_null(strstr(bfd_last_error(), "missing"));
  free(buf);
  tu_rmtree(d);
  free(d);
}

static void test_write_new_file_cleans_up_on_full_disk(void **state) {
  (void)state;
  char *d = tu_mkdtemp("core");
  const char *p = tu_path("%s/out.bin", d);
  char data[10000];
  memset(data, 'x', sizeof data);
  tu_disk_budget = 4096;
  bfdi_set_write_hook(tu_write_until_full);
  assert_int_equal(bfdi_write_new_file(p, data, sizeof data), BFD_ERR_NO_SPACE);
  bfdi_set_write_hook(NULL);
  assert_non_null(strstr(bfd_last_error(), "out.bin"));
  assert_non_null(strstr(bfd_last_error(), "byte 4096"));
  assert_int_equal(tu_count_entries(d), 0);
  assert_int_equal(bfdi_write_new_file(p, data, sizeof data), BFD_OK);
  assert_int_equal(bfdi_write_new_file(p, data, sizeof data), BFD_ERR_IO); /* never overwrites */
  size_t n;
  uint8_t *back = tu_read(p, &n);
  assert_int_equal(n, sizeof data);
  assert_memory_equal(back, data, n);
  free(back);
  tu_rmtree(d);
  free(d);
}

static void test_paths_and_mkdir(void **state) {
  (void)state;
  char *j = bfdi_path_join("a/b//", "c.h5");
  assert_string_equal(j, "a/b/c.h5");
  free(j);
  char *d = tu_mkdtemp("core");
  assert_int_equal(bfdi_mkdir_p(tu_path("%s/x/y/z", d)), BFD_OK);
  assert_int_equal(bfdi_mkdir_p(tu_path("%s/x/y/z", d)), BFD_OK);
  assert_int_equal(tu_write(tu_path("%s/file", d), "1", 1), 0);
  assert_int_not_equal(bfdi_mkdir_p(tu_path("%s/file/sub", d)), BFD_OK);
  assert_non_null(strstr(bfd_last_error(), "file/sub"));
  tu_rmtree(d);
  free(d);
}

static void test_dtype_table(void **state) {
  (void)state;
  assert_int_equal(bfd_dtype_size(BFD_DTYPE_UINT16), 2);
  assert_int_equal(bfd_dtype_size(BFD_DTYPE_FLOAT32), 4);
  assert_int_equal(bfd_dtype_size(BFD_DTYPE_INT64), 8);
  assert_int_equal(bfd_dtype_size((bfd_dtype)0), 0);
  assert_string_equal(bfd_dtype_name(BFD_DTYPE_INT16), "int16");
}

static void test_cuda_device_count(void **state) {
  (void)state;
  int n = -1;
  assert_int_equal(bfd_cuda_device_count(&n), BFD_OK);
  assert_true(n >= 0);
  assert_int_equal(bfd_cuda_device_count(NULL), BFD_ERR_INVALID_ARG);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_error_message_and_wrap),
      cmocka_unit_test(test_log_callback),
      cmocka_unit_test(test_crc32c_vectors),
      cmocka_unit_test(test_hash_file_matches_memory),
      cmocka_unit_test(test_write_new_file_cleans_up_on_full_disk),
      cmocka_unit_test(test_paths_and_mkdir),
      cmocka_unit_test(test_dtype_table),
      cmocka_unit_test(test_cuda_device_count),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
