/* File helpers: mkdir -p, atomic writes leave no temporaries, reads, SHA-256
 * known answers (FIPS 180-2 examples). */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "harness.h"

static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static void test_mkdirs(void **state) {
    (void)state;
    const char *t = rp_test_tmpdir();
    rp_error err;
    rp_error_clear(&err);
    const char *deep = rp_test_path(t, "a/b/c/");
    RP_ASSERT_OK(rp_mkdirs(deep, &err), &err);
    assert_true(rp_is_dir(rp_test_path(t, "a/b/c")));
    RP_ASSERT_OK(rp_mkdirs(deep, &err), &err); /* idempotent */
    rp_test_write(rp_test_path(t, "file"), "x");
    assert_int_equal(rp_mkdirs(rp_test_path(t, "file/sub"), &err), RP_ERR_IO);
    assert_non_null(strstr(err.msg, "file"));
}

static void test_atomic_write(void **state) {
    (void)state;
    const char *t = rp_test_tmpdir();
    rp_error err;
    rp_error_clear(&err);
    const char *p = rp_test_path(t, "out.txt");
    RP_ASSERT_OK(rp_write_atomic(p, "hello\n", 6, &err), &err);
    RP_ASSERT_OK(rp_write_atomic(p, "bye\n", 4, &err), &err);
    char *data = NULL;
    size_t len = 0;
    RP_ASSERT_OK(rp_read_file(p, &data, &len, &err), &err);
    assert_int_equal(len, 4);
    assert_string_equal(data, "bye\n");
    free(data);
    assert_int_equal(count_entries(t), 1); /* no temporary left */
    /* streamed: invisible until commit; abort leaves nothing */
    rp_afile af;
    RP_ASSERT_OK(rp_afile_open(&af, rp_test_path(t, "s.txt"), &err), &err);
    fputs("partial", af.f);
    assert_false(rp_path_exists(rp_test_path(t, "s.txt")));
    rp_afile_abort(&af);
    assert_false(rp_path_exists(rp_test_path(t, "s.txt")));
    assert_int_equal(count_entries(t), 1);
    RP_ASSERT_OK(rp_afile_open(&af, rp_test_path(t, "s.txt"), &err), &err);
    fputs("whole", af.f);
    RP_ASSERT_OK(rp_afile_commit(&af, &err), &err);
    assert_int_equal(count_entries(t), 2);
    /* a directory that does not exist: error naming the file */
    assert_int_equal(rp_write_atomic(rp_test_path(t, "nodir/x"), "a", 1, &err), RP_ERR_IO);
    assert_non_null(strstr(err.msg, "nodir/x"));
}

static void test_read_missing(void **state) {
    (void)state;
    char *d = (char *)1;
    rp_error err;
    assert_int_equal(rp_read_file("/nonexistent/zz", &d, NULL, &err), RP_ERR_IO);
    assert_null(d);
    assert_non_null(strstr(err.msg, "/nonexistent/zz"));
}

static void test_sha256(void **state) {
    (void)state;
    char hex[65];
    rp_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    rp_sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    rp_sha256_hex(two, strlen(two), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* a file of one million 'a' (crosses many blocks and the read buffer) */
    const char *t = rp_test_tmpdir();
    char *big = malloc(1000001);
    memset(big, 'a', 1000000);
    big[1000000] = 0;
    rp_error err;
    RP_ASSERT_OK(rp_write_atomic(rp_test_path(t, "a.bin"), big, 1000000, &err), &err);
    free(big);
    RP_ASSERT_OK(rp_sha256_file(rp_test_path(t, "a.bin"), hex, &err), &err);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* A symbolic-link loop where a directory should be is named as such (not
 * "a file is in the way"). */
static void test_mkdirs_symlink_loop(void **state) {
    (void)state;
    char loop[1024], sub[1100], want[2400];
    snprintf(loop, sizeof loop, "%s/loop", rp_test_tmpdir());
    assert_int_equal(symlink("loop", loop), 0);
    snprintf(sub, sizeof sub, "%s/x", loop);
    rp_error err;
    assert_int_equal(rp_mkdirs(sub, &err), RP_ERR_IO);
    snprintf(want, sizeof want, "cannot create directory '%s': it is a symbolic link loop", loop);
    assert_string_equal(err.msg, want);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mkdirs),
        cmocka_unit_test(test_mkdirs_symlink_loop),
        cmocka_unit_test(test_atomic_write),
        cmocka_unit_test(test_read_missing),
        cmocka_unit_test(test_sha256),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
