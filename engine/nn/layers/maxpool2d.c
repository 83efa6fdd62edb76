/* maxpool2d: torch.nn.MaxPool2d (kernel, stride = kernel by default,
 * padding with -inf, ceil_mode false). Caches the arg-max of every output for
 * backward; ties go to the first maximum in row-major window order, as in
 * PyTorch's CPU kernel. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "nn/layer.h"

typedef struct mp_state {
    int64_t k[2], s[2], p[2];
    rp_tensor idx; /* [N, C, OH, OW] arg-max flat index into H*W, stored as float bits */
    int idx_valid; /* idx belongs to the last forward's input */
    rp_tensor row; /* eval: per-thread column-max rows; backward: recomputed output */
} mp_state;

static int mp_create(rp_layer *l, const rp_node *opts, int n_in, const rp_tensor *const *in,
                     int64_t *out_shape, int *out_ndim, rp_error *err) {
    (void)n_in;
    if (rp_layer_need_ndim(l, 0, in[0], 4, err)) return err->status;
    mp_state *s = calloc(1, sizeof *s);
    if (!s) return rp_error_set(err, RP_ERR_NOMEM, "out of memory");
    l->state = s;
    if (rp_opt_pair(l, opts, "kernel", s->k, err)) return err->status;
    if (rp_opt_pair(l, opts, "stride", s->s, err)) return err->status;
    if (s->s[0] == 0) s->s[0] = s->k[0];
    if (s->s[1] == 0) s->s[1] = s->k[1];
    if (rp_opt_pair(l, opts, "padding", s->p, err)) return err->status;
    if (2 * s->p[0] > s->k[0] || 2 * s->p[1] > s->k[1])
        return rp_error_at(err, opts, RP_ERR_INVALID,
                           "layer '%s': padding must be at most half the kernel size", l->name);
    int64_t oh = (in[0]->shape[2] + 2 * s->p[0] - s->k[0]) / s->s[0] + 1;
    int64_t ow = (in[0]->shape[3] + 2 * s->p[1] - s->k[1]) / s->s[1] + 1;
    if (in[0]->shape[2] + 2 * s->p[0] < s->k[0] || in[0]->shape[3] + 2 * s->p[1] < s->k[1] || oh < 1 || ow < 1)
        return rp_error_set(err, RP_ERR_INVALID, "layer '%s': %lldx%lld pooling window larger than the input",
                            l->name, (long long)s->k[0], (long long)s->k[1]);
    *out_ndim = 4;
    out_shape[0] = in[0]->shape[0], out_shape[1] = in[0]->shape[1], out_shape[2] = oh, out_shape[3] = ow;
    return RP_OK;
}

/* A later window value V at flat index I replaces (best, bi) when greater,
 * or NaN while best is not (the first NaN stays); ties keep the first. */
#define MP_STEP(V, I)                                                                              \
    do {                                                                                           \
        v = (V);                                                                                   \
        if (v > best || (v != v && best == best)) best = v, bi = (I);                              \
    } while (0)

/* NaN-propagating max: the value the arg-max rule selects (any NaN in a
 * window gives NaN, else the maximum). */
static inline float nanmax(float a, float b) {
    return (b > a || b != b) && a == a ? b : a;
}

/* Eval forward: values only (no arg-max to store), all passes contiguous and
 * vectorised. Per output row: the element-wise max of the window's input rows
 * into a row padded with -inf (never chosen over a value; every window holds
 * one), the max of every k-wide run of that row, then every s-th run. */
#if defined(__AVX512F__)
#include <immintrin.h>

static inline __m512 nanmax16(__m512 a, __m512 b) {
    /* b where b > a or b is NaN, unless a is NaN */
    const __mmask16 take = _mm512_cmp_ps_mask(b, a, _CMP_NLE_UQ) & _mm512_cmp_ps_mask(a, a, _CMP_ORD_Q);
    return _mm512_mask_blend_ps(take, a, b);
}

/* 2x2 stride 2 unpadded (the Keras CNNs' pool): 16 outputs from two
 * 32-wide row pairs, the vertical max then even/odd lanes. */
static void mp_values_2x2(const float *xp, int64_t h, int64_t w, float *yp, int64_t oh, int64_t ow) {
    (void)h;
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
    for (int64_t oy = 0; oy < oh; oy++) {
        const float *r0 = xp + 2 * oy * w, *r1 = r0 + w;
        for (int64_t ox = 0; ox < ow; ox += 16) {
            const int64_t left = 2 * (ow - ox); /* input columns used */
            const __mmask16 m0 = left >= 16 ? 0xFFFF : (__mmask16)((1u << left) - 1u);
            const __mmask16 m1 = left >= 32 ? 0xFFFF : left <= 16 ? 0 : (__mmask16)((1u << (left - 16)) - 1u);
            const float *a = r0 + 2 * ox, *b = r1 + 2 * ox;
            const __m512 lo = nanmax16(_mm512_maskz_loadu_ps(m0, a), _mm512_maskz_loadu_ps(m0, b));
            const __m512 hi = nanmax16(_mm512_maskz_loadu_ps(m1, a + 16), _mm512_maskz_loadu_ps(m1, b + 16));
            const __m512 v = nanmax16(_mm512_permutex2var_ps(lo, ev, hi), _mm512_permutex2var_ps(lo, od, hi));
            const int64_t n = ow - ox;
            _mm512_mask_storeu_ps(yp + oy * ow + ox, n >= 16 ? 0xFFFF : (__mmask16)((1u << n) - 1u), v);
        }
    }
}

/* Lanes [0, n) (n clipped to 0..16). */
static inline __mmask16 mp_lanes(int64_t n) {
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1u);
}

/* One step of the arg-max rule on 16 windows: v (at flat index vi) replaces
 * (best, bi) where it is greater, or NaN while best is not (NLE_UQ: greater
 * or unordered; the ORD test on best keeps the first NaN). */
static inline void mp_step16(__m512 v, __m512i vi, __m512 *best, __m512i *bi) {
    const __mmask16 take = _mm512_cmp_ps_mask(v, *best, _CMP_NLE_UQ) & _mm512_cmp_ps_mask(*best, *best, _CMP_ORD_Q);
    *best = _mm512_mask_blend_ps(take, *best, v);
    *bi = _mm512_mask_blend_epi32(take, *bi, vi);
}

/* Training forward of the 2x2 stride-2 pool, 16 outputs at a time: the four
 * window values by even/odd lanes of two 32-wide row pairs, taken in
 * row-major order by mp_step16 (the scalar rule's bits and arg-max). relu:
 * the window reads max(x, 0) (0 for NaN, as relu's x > 0 ? x : 0). */
static void mp_argmax_2x2(const float *xp, int64_t w, float *yp, int32_t *ip, int64_t oh, int64_t ow,
                          int relu) {
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
    const __m512 zero = _mm512_setzero_ps();
    for (int64_t oy = 0; oy < oh; oy++) {
        const float *r0 = xp + 2 * oy * w, *r1 = r0 + w;
        for (int64_t ox = 0; ox < ow; ox += 16) {
            const int64_t left = 2 * (ow - ox); /* input columns used */
            const __mmask16 m0 = mp_lanes(left), m1 = mp_lanes(left - 16);
            __m512 a0 = _mm512_maskz_loadu_ps(m0, r0 + 2 * ox), a1 = _mm512_maskz_loadu_ps(m1, r0 + 2 * ox + 16);
            __m512 b0 = _mm512_maskz_loadu_ps(m0, r1 + 2 * ox), b1 = _mm512_maskz_loadu_ps(m1, r1 + 2 * ox + 16);
            if (relu) {
                a0 = _mm512_max_ps(a0, zero), a1 = _mm512_max_ps(a1, zero);
                b0 = _mm512_max_ps(b0, zero), b1 = _mm512_max_ps(b1, zero);
            }
            /* flat index of each window's top-left value */
            const __m512i i00 = _mm512_add_epi32(_mm512_set1_epi32((int32_t)(2 * oy * w + 2 * ox)), ev);
            __m512 best = _mm512_permutex2var_ps(a0, ev, a1);
            __m512i bi = i00;
            mp_step16(_mm512_permutex2var_ps(a0, od, a1), _mm512_add_epi32(i00, _mm512_set1_epi32(1)), &best, &bi);
            mp_step16(_mm512_permutex2var_ps(b0, ev, b1), _mm512_add_epi32(i00, _mm512_set1_epi32((int32_t)w)), &best,
                      &bi);
            mp_step16(_mm512_permutex2var_ps(b0, od, b1), _mm512_add_epi32(i00, _mm512_set1_epi32((int32_t)w + 1)),
                      &best, &bi);
            const __mmask16 m = mp_lanes(ow - ox);
            _mm512_mask_storeu_ps(yp + oy * ow + ox, m, best);
            _mm512_mask_storeu_epi32(ip + oy * ow + ox, m, bi);
        }
    }
}

/* Backward of the 2x2 stride-2 pool for one plane, every dx value written
 * (no zeroing pass first): per 16 windows, the gradient at each of the four
 * window positions where the arg-max is that position, interleaved back into
 * the two input rows; columns and rows no window covers (odd sizes) get 0.
 * Each value has at most one window, so this is the scatter's 0 + d (+0 for
 * d = -0, as there). y (relu folded in): only where the pooled value > 0. */
static void mp_backward_2x2(float *dx, int64_t h, int64_t w, const float *d, const int32_t *ip, const float *y,
                            int64_t oh, int64_t ow) {
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
    const __m512 zero = _mm512_setzero_ps();
    for (int64_t oy = 0; oy < oh; oy++) {
        float *x0 = dx + 2 * oy * w, *x1 = x0 + w;
        for (int64_t ox = 0; ox < ow; ox += 16) {
            const __mmask16 m = mp_lanes(ow - ox);
            const int64_t o = oy * ow + ox;
            const __m512 dv = _mm512_maskz_loadu_ps(m, d + o);
            const __mmask16 keep = y ? _mm512_mask_cmp_ps_mask(m, _mm512_maskz_loadu_ps(m, y + o), zero, _CMP_GT_OQ) : m;
            /* arg-max relative to the window's top-left value: 0, 1, w, w + 1 */
            const __m512i loc = _mm512_sub_epi32(_mm512_maskz_loadu_epi32(m, ip + o),
                                                 _mm512_add_epi32(_mm512_set1_epi32((int32_t)(2 * oy * w + 2 * ox)), ev));
            __m512 g[4];
            const int32_t at[4] = {0, 1, (int32_t)w, (int32_t)w + 1};
            for (int k = 0; k < 4; k++)
                g[k] = _mm512_maskz_add_ps(keep & _mm512_cmpeq_epi32_mask(loc, _mm512_set1_epi32(at[k])), dv, zero);
            const int64_t cols = 2 * (ow - ox);
            const __mmask16 c0 = mp_lanes(cols), c1 = mp_lanes(cols - 16);
            _mm512_mask_storeu_ps(x0 + 2 * ox, c0, _mm512_permutex2var_ps(g[0], lo, g[1]));
            _mm512_mask_storeu_ps(x0 + 2 * ox + 16, c1, _mm512_permutex2var_ps(g[0], hi, g[1]));
            _mm512_mask_storeu_ps(x1 + 2 * ox, c0, _mm512_permutex2var_ps(g[2], lo, g[3]));
            _mm512_mask_storeu_ps(x1 + 2 * ox + 16, c1, _mm512_permutex2var_ps(g[2], hi, g[3]));
        }
        for (int64_t xx = 2 * ow; xx < w; xx++)
            x0[xx] = x1[xx] = 0.0f;
    }
    for (int64_t r = 2 * oh; r < h; r++)
        for (int64_t xx = 0; xx < w; xx++)
            dx[r * w + xx] = 0.0f;
}
#endif

static int mp_forward_values(mp_state *s, const rp_tensor *x, rp_tensor *out, rp_error *err) {
    const int64_t nc = x->shape[0] * x->shape[1], h = x->shape[2], w = x->shape[3];
    const int64_t oh = out->shape[2], ow = out->shape[3];
#if defined(__AVX512F__)
    if (s->k[0] == 2 && s->k[1] == 2 && s->s[0] == 2 && s->s[1] == 2 && s->p[0] == 0 && s->p[1] == 0) {
#pragma omp parallel for schedule(static) if (nc * oh * ow > RP_PAR_MIN / 4)
        for (int64_t i = 0; i < nc; i++)
            mp_values_2x2(x->data + i * h * w, h, w, out->data + i * oh * ow, oh, ow);
        return RP_OK;
    }
#endif
    const int64_t kx = s->k[1], sx = s->s[1], px = s->p[1];
    const int64_t wp = w + 2 * px, nh = (ow - 1) * sx + 1; /* runs needed */
    const int64_t per = (wp + nh + 15) / 16 * 16;
    const int64_t nt = rp_get_threads() < 1 ? 1 : rp_get_threads();
    int64_t rs = nt * per;
    if (rp_tensor_reshape_alloc(&s->row, 1, &rs, err)) return err->status;
#pragma omp parallel num_threads((int)nt) if (nc * oh * ow > RP_PAR_MIN / 4)
    {
        float *vm = s->row.data + (int64_t)omp_get_thread_num() * per; /* [W + 2px] */
        float *hm = vm + wp;                                             /* [nh] */
        for (int64_t t = 0; t < px; t++) vm[t] = vm[px + w + t] = -INFINITY;
#pragma omp for schedule(static)
        for (int64_t i = 0; i < nc; i++) {
            const float *xp = x->data + i * h * w;
            float *yp = out->data + i * oh * ow;
            for (int64_t oy = 0; oy < oh; oy++) {
                const int64_t y0 = oy * s->s[0] - s->p[0];
                const int64_t ya = y0 < 0 ? 0 : y0, yb = y0 + s->k[0] > h ? h : y0 + s->k[0];
                float *v = vm + px;
                const float *r = xp + ya * w;
#pragma omp simd
                for (int64_t xx = 0; xx < w; xx++) v[xx] = r[xx];
                for (int64_t yy = ya + 1; yy < yb; yy++) {
                    r = xp + yy * w;
#pragma omp simd
                    for (int64_t xx = 0; xx < w; xx++) v[xx] = nanmax(v[xx], r[xx]);
                }
#pragma omp simd
                for (int64_t xx = 0; xx < nh; xx++) hm[xx] = vm[xx];
                for (int64_t t = 1; t < kx; t++) {
                    const float *vt = vm + t;
#pragma omp simd
                    for (int64_t xx = 0; xx < nh; xx++) hm[xx] = nanmax(hm[xx], vt[xx]);
                }
                for (int64_t ox = 0; ox < ow; ox++) yp[oy * ow + ox] = hm[ox * sx];
            }
        }
    }
    return RP_OK;
}

/* An input value as the window sees it: relu'd when a relu before the pool
 * is folded into it (rp_run_ctx.relu_in; relu's own x > 0 ? x : 0, NaN
 * becoming 0 as there). */
static inline float mp_rd(float v, int relu) {
    return relu ? (v > 0.0f ? v : 0.0f) : v;
}

/* out and the arg-max of every output (for backward), of relu(x) when relu. */
static inline __attribute__((always_inline)) int mp_argmax_impl(mp_state *s, const rp_tensor *x,
                                                                rp_tensor *out, int relu,
                                                                rp_error *err) {
    if (rp_tensor_reshape_alloc(&s->idx, out->ndim, out->shape, err)) return err->status;
    s->idx_valid = 1;
    int64_t nc = x->shape[0] * x->shape[1], h = x->shape[2], w = x->shape[3];
    int64_t oh = out->shape[2], ow = out->shape[3];
    int32_t *idx = (int32_t *)s->idx.data;
    if (s->k[0] == 2 && s->k[1] == 2 && s->s[0] == 2 && s->s[1] == 2 && s->p[0] == 0 && s->p[1] == 0) {
        /* 2x2 stride 2, no padding: every window lies inside the input. Same
         * rule as the general loop, branch-free: a later value wins when it is
         * greater, or NaN while the best so far is not (the first NaN stays). */
#pragma omp parallel for schedule(static) if (nc * oh * ow > RP_PAR_MIN / 4)
        for (int64_t i = 0; i < nc; i++) {
            const float *xp = x->data + i * h * w;
            float *yp = out->data + i * oh * ow;
            int32_t *ip = idx + i * oh * ow;
#if defined(__AVX512F__)
            mp_argmax_2x2(xp, w, yp, ip, oh, ow, relu);
#else
            for (int64_t oy = 0; oy < oh; oy++) {
                const float *r0 = xp + 2 * oy * w, *r1 = r0 + w;
                const int32_t base = (int32_t)(2 * oy * w);
#pragma omp simd simdlen(8)
                for (int64_t ox = 0; ox < ow; ox++) {
                    float best = mp_rd(r0[2 * ox], relu), v;
                    int32_t bi = base + (int32_t)(2 * ox);
                    MP_STEP(mp_rd(r0[2 * ox + 1], relu), base + (int32_t)(2 * ox + 1));
                    MP_STEP(mp_rd(r1[2 * ox], relu), base + (int32_t)(w + 2 * ox));
                    MP_STEP(mp_rd(r1[2 * ox + 1], relu), base + (int32_t)(w + 2 * ox + 1));
                    yp[oy * ow + ox] = best;
                    ip[oy * ow + ox] = bi;
                }
            }
#endif
        }
        return RP_OK;
    }
#pragma omp parallel for schedule(static) if (nc * oh * ow > RP_PAR_MIN / 4)
    for (int64_t i = 0; i < nc; i++) {
        const float *xp = x->data + i * h * w;
        float *yp = out->data + i * oh * ow;
        int32_t *ip = idx + i * oh * ow;
        for (int64_t oy = 0; oy < oh; oy++) {
            /* window rows clipped to the input (padding is -inf: never chosen
             * while an input value exists, and create() keeps one in every
             * window) */
            const int64_t y0 = oy * s->s[0] - s->p[0];
            const int64_t ya = y0 < 0 ? 0 : y0, yb = y0 + s->k[0] > h ? h : y0 + s->k[0];
            /* 3x3 windows wholly inside the input (ResNet's stem pool):
             * nine taps in row-major order, vectorised over ox */
            int64_t lo = ow, hi = ow;
            if (s->k[0] == 3 && s->k[1] == 3 && yb - ya == 3) {
                const int64_t sx = s->s[1], px = s->p[1];
                lo = (px + sx - 1) / sx;
                hi = w - 3 + px >= 0 ? (w - 3 + px) / sx + 1 : 0;
                if (hi > ow) hi = ow;
                if (lo > hi) lo = hi;
                const float *r0 = xp + ya * w - px, *r1 = r0 + w, *r2 = r1 + w;
                const int32_t b0 = (int32_t)(ya * w - px), b1 = b0 + (int32_t)w, b2 = b1 + (int32_t)w;
#pragma omp simd simdlen(8)
                for (int64_t ox = lo; ox < hi; ox++) {
                    const int64_t c = ox * sx;
                    float best = mp_rd(r0[c], relu), v;
                    int32_t bi = b0 + (int32_t)c;
                    MP_STEP(mp_rd(r0[c + 1], relu), b0 + (int32_t)c + 1);
                    MP_STEP(mp_rd(r0[c + 2], relu), b0 + (int32_t)c + 2);
                    MP_STEP(mp_rd(r1[c], relu), b1 + (int32_t)c);
                    MP_STEP(mp_rd(r1[c + 1], relu), b1 + (int32_t)c + 1);
                    MP_STEP(mp_rd(r1[c + 2], relu), b1 + (int32_t)c + 2);
                    MP_STEP(mp_rd(r2[c], relu), b2 + (int32_t)c);
                    MP_STEP(mp_rd(r2[c + 1], relu), b2 + (int32_t)c + 1);
                    MP_STEP(mp_rd(r2[c + 2], relu), b2 + (int32_t)c + 2);
                    yp[oy * ow + ox] = best;
                    ip[oy * ow + ox] = bi;
                }
            }
            for (int64_t ox = 0; ox < ow; ox++) {
                if (ox == lo) ox = hi;
                if (ox >= ow) break;
                const int64_t x0 = ox * s->s[1] - s->p[1];
                const int64_t xa = x0 < 0 ? 0 : x0, xb = x0 + s->k[1] > w ? w : x0 + s->k[1];
                /* first maximum in row-major window order; a later value wins
                 * when greater, or NaN while the best is not (first NaN stays) */
                float best = mp_rd(xp[ya * w + xa], relu);
                int32_t bi = (int32_t)(ya * w + xa);
                for (int64_t yy = ya; yy < yb; yy++)
                    for (int64_t xx = xa; xx < xb; xx++) {
                        float v = mp_rd(xp[yy * w + xx], relu);
                        if (v > best || (v != v && best == best)) best = v, bi = (int32_t)(yy * w + xx);
                    }
                yp[oy * ow + ox] = best;
                ip[oy * ow + ox] = bi;
            }
        }
    }
    return RP_OK;
}

static int mp_forward_argmax(mp_state *s, const rp_tensor *x, rp_tensor *out, int relu,
                             rp_error *err) {
    return relu ? mp_argmax_impl(s, x, out, 1, err) : mp_argmax_impl(s, x, out, 0, err);
}

/* Training forwards store the arg-max for backward; an eval forward (no
 * backward follows, or the model recomputes first) computes values only,
 * and a backward after it recomputes the arg-max from the input. */
static int mp_forward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                      rp_tensor *out, rp_error *err) {
    (void)n_in;
    mp_state *s = l->state;
    s->idx_valid = 0;
    if (ctx->training) return mp_forward_argmax(s, in[0], out, ctx->relu_in, err);
    if (ctx->relu_in) /* (the graph folds relus into training forwards only) */
        return rp_error_set(err, RP_ERR_INTERNAL, "layer '%s': relu_in in an eval forward", l->name);
    return mp_forward_values(s, in[0], out, err);
}

static int mp_backward(rp_layer *l, const rp_run_ctx *ctx, int n_in, const rp_tensor *const *in,
                       const rp_tensor *out, const rp_tensor *dout, rp_tensor *const *din,
                       rp_error *err) {
    (void)n_in, (void)err;
    if (!din[0]) return RP_OK;
    mp_state *s = l->state;
    const int relu = ctx->relu_in;
    const rp_tensor *x = in[0];
    int64_t nc = x->shape[0] * x->shape[1], hw = x->shape[2] * x->shape[3];
    int64_t ohw = out->shape[2] * out->shape[3];
    if (!s->idx_valid) {
        /* the forward was an eval one: the arg-max again (values to scratch) */
        if (rp_tensor_reshape_alloc(&s->row, out->ndim, out->shape, err) ||
            mp_forward_argmax(s, x, &s->row, relu, err))
            return err->status;
    }
    const int32_t *idx = (const int32_t *)s->idx.data;
#if defined(__AVX512F__)
    if (s->k[0] == 2 && s->k[1] == 2 && s->s[0] == 2 && s->s[1] == 2 && s->p[0] == 0 && s->p[1] == 0) {
        const int64_t h = x->shape[2], w = x->shape[3], oh = out->shape[2], ow = out->shape[3];
#pragma omp parallel for schedule(static) if (nc * hw > RP_PAR_MIN)
        for (int64_t i = 0; i < nc; i++)
            mp_backward_2x2(din[0]->data + i * hw, h, w, dout->data + i * ohw, idx + i * ohw,
                            relu ? out->data + i * ohw : NULL, oh, ow);
        return RP_OK;
    }
#endif
    rp_tensor_zero(din[0]);
#pragma omp parallel for schedule(static) if (nc * hw > RP_PAR_MIN)
    for (int64_t i = 0; i < nc; i++) {
        float *dx = din[0]->data + i * hw;
        const float *d = dout->data + i * ohw;
        const int32_t *ip = idx + i * ohw;
        if (relu) { /* relu's mask at the arg-max: the pooled value > 0 */
            const float *y = out->data + i * ohw;
            for (int64_t j = 0; j < ohw; j++)
                if (ip[j] >= 0) dx[ip[j]] += y[j] > 0.0f ? d[j] : 0.0f;
        } else {
            for (int64_t j = 0; j < ohw; j++)
                if (ip[j] >= 0) dx[ip[j]] += d[j];
        }
    }
    return RP_OK;
}

static void mp_destroy(rp_layer *l) {
    mp_state *s = l->state;
    if (!s) return;
    rp_tensor_release(&s->idx);
    rp_tensor_release(&s->row);
    free(s);
    l->state = NULL;
}

static const struct rp_layer_ops maxpool2d_ops = {
    .create = mp_create,
    .forward = mp_forward,
    .backward = mp_backward,
    .destroy = mp_destroy,
    .example_opts = "{kernel: 3, stride: 2, padding: 1}",
    .example_inputs = "[2,3,7,6]",
    .min_inputs = 1,
    .max_inputs = 1,
    .flags = RP_LAYER_OUT_UNUSED | RP_LAYER_RELU_IN,
};
RP_COMPONENT(RP_COMP_LAYER, "maxpool2d", "2-D max pooling (torch.nn.MaxPool2d)", maxpool2d_ops)
