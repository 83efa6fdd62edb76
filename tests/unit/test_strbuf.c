/* rp_strbuf: growth keeps the text and its NUL, printf of any length (in
 * place and after growing, at the exact capacity boundary), binary appends,
 * take/release reset the buffer, and the oom flag: set by an impossible
 * size (no allocation is attempted) or a failing format, sticky, and turning
 * take into NULL. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "harness.h"

static void test_growth(void **state) {
    (void)state;
    rp_strbuf b = {0};
    assert_null(b.p);
    rp_strbuf_puts(&b, "");
    assert_non_null(b.p); /* anything appended, even "", gives a string */
    assert_string_equal(b.p, "");
    size_t prev_cap = b.cap;
    for (int i = 0; i < 10000; i++) {
        rp_strbuf_putc(&b, (char)('a' + i % 26));
        assert_true(b.n + 1 <= b.cap);
        assert_int_equal(b.p[b.n], 0);
        if (b.cap != prev_cap) {
            assert_true(b.cap >= 2 * prev_cap); /* grows geometrically */
            prev_cap = b.cap;
        }
    }
    assert_int_equal(b.n, 10000);
    assert_int_equal(strlen(b.p), 10000);
    for (int i = 0; i < 10000; i++) assert_int_equal(b.p[i], 'a' + i % 26);
    assert_false(b.oom);
    rp_strbuf_release(&b);
    assert_null(b.p);
    assert_int_equal(b.n, 0);
    assert_int_equal(b.cap, 0);
    rp_strbuf_release(NULL);
}

static void test_add_puts_binary(void **state) {
    (void)state;
    rp_strbuf b = {0};
    rp_strbuf_add(&b, "ab\0cd", 5); /* embedded NUL kept, NUL after it */
    assert_int_equal(b.n, 5);
    assert_memory_equal(b.p, "ab\0cd\0", 6);
    rp_strbuf_puts(&b, NULL); /* nothing */
    rp_strbuf_add(&b, NULL, 0);
    assert_int_equal(b.n, 5);
    rp_strbuf_puts(&b, "xyz");
    assert_memory_equal(b.p, "ab\0cdxyz\0", 9);
    /* one append far larger than the current capacity */
    size_t big = 300000;
    char *s = malloc(big);
    assert_non_null(s);
    memset(s, 'q', big);
    rp_strbuf_add(&b, s, big);
    assert_int_equal(b.n, 8 + big);
    assert_int_equal(b.p[b.n], 0);
    assert_int_equal(b.p[8], 'q');
    assert_int_equal(b.p[b.n - 1], 'q');
    free(s);
    rp_strbuf_release(&b);
}

static void test_printf(void **state) {
    (void)state;
    rp_strbuf b = {0};
    rp_strbuf_printf(&b, "%d-%s-%.2f", 42, "x", 1.5);
    assert_string_equal(b.p, "42-x-1.50");
    /* a long argument: more than any initial capacity, several times over */
    size_t len = 100000;
    char *s = malloc(len + 1);
    assert_non_null(s);
    for (size_t i = 0; i < len; i++) s[i] = (char)('A' + i % 23);
    s[len] = 0;
    rp_strbuf_printf(&b, "[%s]%zu", s, len);
    assert_int_equal(b.n, 9 + 1 + len + 1 + 6);
    assert_int_equal(strlen(b.p), b.n);
    assert_memory_equal(b.p + 10, s, len);
    assert_string_equal(b.p + 10 + len, "]100000");
    /* fill to the exact capacity boundary: k == room - 1 fits in place,
     * k == room needs to grow; both must keep every byte */
    for (int extra = 0; extra < 3; extra++) {
        rp_strbuf c = {0};
        rp_strbuf_puts(&c, "0");
        size_t room = c.cap - c.n; /* bytes left including the NUL slot */
        size_t k = room - 1 + (size_t)extra;
        rp_strbuf_printf(&c, "%.*s", (int)k, s);
        assert_int_equal(c.n, 1 + k);
        assert_int_equal(c.p[0], '0');
        assert_memory_equal(c.p + 1, s, k);
        assert_int_equal(c.p[c.n], 0);
        rp_strbuf_printf(&c, "%s", ""); /* an empty format changes nothing */
        assert_int_equal(c.n, 1 + k);
        rp_strbuf_release(&c);
    }
    /* printf-built text equals the same text built with puts */
    rp_strbuf x = {0}, y = {0};
    for (int i = 0; i < 2000; i++) {
        char t[32];
        snprintf(t, sizeof t, "%d,", i * 7919);
        rp_strbuf_puts(&x, t);
        rp_strbuf_printf(&y, "%d,", i * 7919);
    }
    assert_int_equal(x.n, y.n);
    assert_string_equal(x.p, y.p);
    rp_strbuf_release(&x);
    rp_strbuf_release(&y);
    free(s);
    rp_strbuf_release(&b);
}

static void test_take_resets(void **state) {
    (void)state;
    rp_strbuf b = {0};
    char *t = rp_strbuf_take(&b); /* nothing appended: an owned "" */
    assert_non_null(t);
    assert_string_equal(t, "");
    free(t);
    rp_strbuf_puts(&b, "hello ");
    rp_strbuf_printf(&b, "%s", "world");
    char *p = b.p;
    t = rp_strbuf_take(&b);
    assert_ptr_equal(t, p); /* transferred, not copied */
    assert_string_equal(t, "hello world");
    assert_null(b.p);
    assert_int_equal(b.n, 0);
    assert_int_equal(b.cap, 0);
    assert_false(b.oom);
    /* the buffer is reusable and independent of the taken text */
    rp_strbuf_puts(&b, "again");
    assert_string_equal(b.p, "again");
    assert_string_equal(t, "hello world");
    free(t);
    rp_strbuf_release(&b);
}

static void test_oom_flag(void **state) {
    (void)state;
    rp_strbuf b = {0};
    rp_strbuf_puts(&b, "kept");
    char *before = b.p;
    /* a size no allocation can satisfy: refused up front, nothing is freed
     * or overwritten, the text so far stays readable */
    rp_strbuf_add(&b, "x", (size_t)PTRDIFF_MAX);
    assert_true(b.oom);
    assert_ptr_equal(b.p, before);
    assert_string_equal(b.p, "kept");
    /* sticky: later appends of every kind are no-ops */
    rp_strbuf_puts(&b, "more");
    rp_strbuf_putc(&b, '!');
    rp_strbuf_printf(&b, "%d", 12345);
    rp_strbuf_add(&b, "y", 1);
    assert_int_equal(b.n, 4);
    assert_string_equal(b.p, "kept");
    /* take: NULL (the partial text is freed), and the buffer is reset */
    assert_null(rp_strbuf_take(&b));
    assert_null(b.p);
    assert_false(b.oom);
    rp_strbuf_puts(&b, "fresh");
    assert_string_equal(b.p, "fresh");
    /* size_t overflow of n + len + 1 is caught too */
    rp_strbuf_add(&b, "x", SIZE_MAX);
    assert_true(b.oom);
    assert_string_equal(b.p, "fresh");
    rp_strbuf_release(&b);
    assert_false(b.oom);
    /* oom on an empty buffer: take gives NULL, not "" */
    rp_strbuf_add(&b, "x", SIZE_MAX - 1);
    assert_true(b.oom);
    assert_null(b.p);
    assert_null(rp_strbuf_take(&b));
}

static void test_format_error_sets_oom(void **state) {
    (void)state;
    /* In the "C" locale a wide character outside ASCII cannot be converted:
     * vsnprintf fails (EILSEQ). The text would be incomplete, so that is
     * flagged like an allocation failure and the earlier text stays intact. */
    static const wchar_t bad[] = {0x263A, 0};
    char probe[8];
    if (snprintf(probe, sizeof probe, "%ls", bad) >= 0) skip(); /* libc converts it */
    rp_strbuf b = {0};
    rp_strbuf_puts(&b, "ok");
    rp_strbuf_printf(&b, "%ls", bad);
    assert_true(b.oom);
    assert_string_equal(b.p, "ok");
    assert_int_equal(b.n, 2);
    assert_null(rp_strbuf_take(&b));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_add_puts_binary),
        cmocka_unit_test(test_printf),
        cmocka_unit_test(test_take_resets),
        cmocka_unit_test(test_oom_flag),
        cmocka_unit_test(test_format_error_sets_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
