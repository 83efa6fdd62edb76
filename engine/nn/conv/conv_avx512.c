/* The AVX-512 convolution kernels (conv.h): channel tiles, Winograd
 * F(4x4, 3x3) and F(2x2, 3x3), register-blocked planes, transposed
 * weight-gradient tiles; conv.c chooses nothing here and keeps the shared
 * geometry, scratch and GEMM fallback. Compiled empty without AVX-512. */
#include "nn/conv/conv_impl.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "runpipe/tensor.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#include <omp.h>

#include "runpipe/nn.h"

#define MR 8         /* output rows per forward tile (broadcast operand) */
#define NV 3         /* 16-float vectors per forward tile */
#define NR (16 * NV) /* output positions per forward tile */

enum { PATH_POINTWISE, PATH_S1, PATH_COL, PATH_PHASE };

static int64_t i64min(int64_t a, int64_t b) {
    return a < b ? a : b;
}
static int64_t i64max(int64_t a, int64_t b) {
    return a > b ? a : b;
}
static size_t rup(size_t n) {
    return (n + 15) & ~(size_t)15;
}
static int64_t rup16(int64_t n) {
    return (n + 15) / 16 * 16;
}
/* sum of r[0..n) in 16 lane sums, then across the lanes (the bias gradient's
 * per-plane sums; a fixed order) */
static float plane_sum(const float *r, int64_t n) {
    __m512 s = _mm512_setzero_ps();
    int64_t p = 0;
    for (; p + 16 <= n; p += 16)
        s = _mm512_add_ps(s, _mm512_loadu_ps(r + p));
    if (p < n)
        s = _mm512_add_ps(s, _mm512_maskz_loadu_ps((__mmask16)((1u << (n - p)) - 1u), r + p));
    return _mm512_reduce_add_ps(s);
}

static int64_t rup24(int64_t n) {
    return (n + 23) / 24 * 24;
}

/* Forward and weight gradient: 1x1 stride 1 unpadded reads the input as is;
 * everything else reads phase planes (see plane_copy). */
static size_t shared_head_floats(const rp_conv_geom *g);

static int fwd_path(const rp_conv_geom *g) {
    if (rp_conv_is_pointwise(g)) return PATH_POINTWISE;
    return PATH_S1;
}

static int forced_bwd_data = RP_CONV_BWD_AUTO;

void rp_conv_force_backward_data(int algo) {
    forced_bwd_data = algo;
}

static int bwd_data_path(const rp_conv_geom *g) {
    if (rp_conv_is_pointwise(g)) return PATH_POINTWISE;
    /* strided, undilated: one stride-1 convolution per output phase (below) */
    if ((g->sh > 1 || g->sw > 1) && g->dh == 1 && g->dw == 1 &&
        forced_bwd_data != RP_CONV_BWD_COLUMNS)
        return PATH_PHASE;
    /* dx = conv(dy padded by d*(k-1)-p) for stride 1: needs a non-negative padding */
    if (g->sh != 1 || g->sw != 1 || g->ph > g->dh * (g->kh - 1) || g->pw > g->dw * (g->kw - 1))
        return PATH_COL;
    return PATH_S1;
}

/* Phase planes of the zero-padded input for stride (sh, sw): plane (c, a, b)
 * holds xpad[c][y*sh + a][x*sw + b], [HS][WS] with HS = ceil((H+2ph)/sh),
 * WS = ceil((W+2pw)/sw). Kernel tap (i, j) of an output at position
 * p = oy*WS + ox then reads plane (c, (i*dh)%sh, (j*dw)%sw) at
 * p + ((i*dh)/sh)*WS + (j*dw)/sw: a shifted contiguous row for every tap, so a
 * strided convolution is a stride-1 one over C*sh*sw planes. For stride 1 this
 * is just the padded image. */
static int64_t plane_hs(const rp_conv_geom *g) {
    return (g->h + 2 * g->ph + g->sh - 1) / g->sh;
}
static int64_t plane_ws(const rp_conv_geom *g) {
    return (g->w + 2 * g->pw + g->sw - 1) / g->sw;
}
static int64_t plane_floats(const rp_conv_geom *g) {
    /* slack: the discarded columns of the last rows read past the last plane */
    return g->c * g->sh * g->sw * plane_hs(g) * plane_ws(g) + plane_ws(g) + g->dw * (g->kw - 1) +
           64;
}

/* Strided backward data by phases. Input rows iy with (iy + p) % s == r
 * (phase r) receive only the kernel taps i = r + s*t, t < T_r =
 * ceil((KH - r) / s), from dy rows Y - t where iy = s*Y + r - p:
 *   dx[s*Y + r - p] = sum_t w[r + s*t] * dy[Y - t]
 * a stride-1 correlation of dy with the phase's flipped taps. Each of the
 * sh*sw phases is then the stride-1 plane GEMM (gemm_rows) on one padded
 * copy of dy (Tmax - 1 = ceil(KH/s) - 1 zero rows / columns before it), so
 * no column matrix and no col2im: the s*s phases do exactly the KH*KW taps'
 * work. Phase (ry, rx) writes its rows to a scratch block that is scattered
 * into dx. One dimension's phase: */
typedef struct phase_dim {
    int64_t t;      /* taps T_r (0: the phase's positions get no contribution) */
    int64_t y0, ny; /* output index Y of its first position, positions */
} phase_dim;

static int64_t fdiv(int64_t a, int64_t b) { /* floor(a / b), b > 0 */
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

static phase_dim phase_of(int64_t r, int64_t k, int64_t s, int64_t p, int64_t n) {
    phase_dim d;
    d.t = r < k ? (k - r + s - 1) / s : 0;
    d.y0 = fdiv(p - r + s - 1, s);
    d.ny = i64max(0, fdiv(n - 1 + p - r, s) - d.y0 + 1);
    return d;
}

/* The padded dy plane shared by the phases: [K][hq][wq], dy at row / column
 * offset tmax - 1, high enough and wide enough for every phase's reads. */
static void phase_plane(const rp_conv_geom *g, int64_t *hq, int64_t *wq) {
    const int64_t ty = (g->kh + g->sh - 1) / g->sh, tx = (g->kw + g->sw - 1) / g->sw;
    int64_t h = g->oh + ty - 1, w = g->ow + tx - 1;
    for (int64_t r = 0; r < g->sh; r++) {
        phase_dim d = phase_of(r, g->kh, g->sh, g->ph, g->h);
        h = i64max(h, d.y0 + d.ny - 1 + ty);
    }
    for (int64_t r = 0; r < g->sw; r++) {
        phase_dim d = phase_of(r, g->kw, g->sw, g->pw, g->w);
        w = i64max(w, d.y0 + d.ny - 1 + tx);
    }
    *hq = h, *wq = w;
}

/* Per-thread floats of the phase path: the plane + slack (discarded columns
 * of the last row read past it), then the largest phase block [C][ny*nx]. */
static int64_t phase_thread_floats(const rp_conv_geom *g, int64_t *plane) {
    int64_t hq, wq;
    phase_plane(g, &hq, &wq);
    *plane = g->k * hq * wq + wq + g->kw + g->pw + 64;
    /* + the phases' blocks (together [C][H][W] at most: they partition dx) */
    return rup((size_t)*plane) + rup((size_t)(g->c * g->h * g->w + 16));
}

/* Threads actually used: rp_get_threads(), at most the processors (the
 * workspace is sized for that many, so a later rp_set_threads() can never
 * overrun it). */
static int ws_threads(void) {
    int p = omp_get_num_procs();
    return p < 1 ? 1 : (p > 64 ? 64 : p);
}

static int conv_threads(void) {
    int t = rp_get_threads(), p = ws_threads();
    return t < 1 ? 1 : (t > p ? p : t);
}

/* Weight-gradient image groups: the batch is cut into G contiguous groups,
 * each summed into its own partial in image order, and the partials are added
 * in group order. G depends only on the layer's shapes (never on the thread
 * count or the machine), so the weight gradient is the same bytes on any
 * number of threads and whichever thread runs which group. 8 groups: the
 * grouping 2 threads had before (4 per thread), and even loads on 1, 2, 4 or
 * 8 threads (3 threads run 3, 3 and 2 groups); partials of up to 256K floats
 * (8 MB together). Larger partials get fewer groups, a power of two within
 * 8 MB but at least 2 (ResNet-18's layer3 and layer4: 2, as 2 threads had
 * before; 4 groups there cost 7 % of a training step in zeroing and adding
 * partials). */
#define WG_GROUPS 8
#define WG_MIN_GROUPS 2
#define WG_PART_BUDGET (1 << 21) /* floats */
static int64_t wg_groups(const rp_conv_geom *g) {
    int64_t part = g->c * g->kh * g->kw * rup16(g->k) + rup16(g->k);
    int64_t G = WG_GROUPS;
    while (G > WG_MIN_GROUPS && G * part > WG_PART_BUDGET)
        G /= 2;
    return i64min(g->n, G);
}

/* rp_conv_force_thread_split: 4 groups per thread (1 when the partials would
 * be large), the grouping before the above; results depend on t. */
static int64_t wg_groups_split(const rp_conv_geom *g, int t) {
    int64_t part = g->c * g->kh * g->kw * rup16(g->k) + rup16(g->k);
    int64_t per_t = 4 * (int64_t)ws_threads() * part > (1 << 21) ? 1 : 4;
    return i64min(g->n, per_t * t);
}

/* Images per weight-gradient chunk: up to 8 while the chunk's operands stay
 * within ~4 MB. */
static int wg_chunk(const rp_conv_geom *g) {
    int64_t wp = plane_ws(g), kp = rup16(g->k);
    int64_t one = i64max(plane_floats(g), g->h * g->w * rup24(g->c)) + g->oh * wp * kp +
                  i64max(g->h * g->w, g->oh * wp) * kp + 32;
    return (int)i64max(1, i64min(8, (1 << 20) / one));
}

static size_t group_floats(const rp_conv_geom *g) {
    return rup((size_t)(g->c * g->kh * g->kw * rup16(g->k) + rup16(g->k)));
}

/* Floats shared by all threads: packed weights + offset table (int64), then
 * the weight-gradient group partials. */
static size_t shared_floats(const rp_conv_geom *g) {
    const int64_t G =
        i64max(wg_groups(g), rp_conv_thread_split() ? wg_groups_split(g, ws_threads()) : 0);
    return shared_head_floats(g) + (size_t)G * group_floats(g);
}

static size_t shared_head_floats(const rp_conv_geom *g) {
    int64_t ckk = g->c * g->kh * g->kw, kkk = g->k * g->kh * g->kw;
    int64_t a1 = (g->k + MR - 1) / MR * MR * ckk; /* forward */
    int64_t a2 = (g->c + MR - 1) / MR * MR * kkk; /* backward data, s1 */
    int64_t a3 = (ckk + MR - 1) / MR * MR * g->k; /* backward data, col */
    int64_t a = i64max(a1, i64max(a2, a3));
    return rup((size_t)a) + rup((size_t)(2 * i64max(ckk, kkk)));
}

static int64_t s1_slack(const rp_conv_geom *g) {
    return g->dw * (g->kw - 1) + 64;
}

/* Floats private to each thread. */
static size_t thread_floats(const rp_conv_geom *g) {
    const int64_t ckk = g->c * g->kh * g->kw, ohw = g->oh * g->ow, hw = g->h * g->w;
    const int64_t wp = plane_ws(g), kp = rup16(g->k), xpad = plane_floats(g);
    /* forward: phase planes + output over the plane width */
    int64_t m = xpad + g->k * g->oh * wp;
    /* backward data: padded dy + dx over its width (stride 1), or columns */
    int64_t phq = g->dh * (g->kh - 1) - g->ph, pwq = g->dw * (g->kw - 1) - g->pw;
    if (phq >= 0 && pwq >= 0) {
        int64_t hq = g->oh + 2 * phq, wq = g->ow + 2 * pwq;
        m = i64max(m, g->k * hq * wq + s1_slack(g) + g->c * g->h * wq);
    }
    m = i64max(m, ckk * ohw);
    if (g->dh == 1 && g->dw == 1 && (g->sh > 1 || g->sw > 1)) {
        int64_t plane;
        m = i64max(m, phase_thread_floats(g, &plane));
    }
    /* weight gradient: wg_chunk() images of operand (planes or channels-last
     * input, each slot rounded) and dyT [P][kp] */
    int64_t nbc = wg_chunk(g);
    m = i64max(m, nbc * (i64max(xpad, hw * rup24(g->c)) + 16 + i64max(g->oh * wp, hw) * kp + 16));
    /* + rounding of up to three sub-buffers, + a row of scratch (plane_copy) */
    return rup((size_t)m + 64) + rup((size_t)(2 * wp + 32));
}

static size_t ct_shared_floats(const rp_conv_geom *g);
static size_t ct_thread_floats(const rp_conv_geom *g);
static int wino_fits(const rp_conv_geom *g);
static size_t wg_shared_floats(const rp_conv_geom *g);
static size_t wg_thread_floats(const rp_conv_geom *g);
static size_t wg_floats(const rp_conv_geom *g);
static size_t ww_shared_floats(const rp_conv_geom *g);
static size_t ww_thread_floats(const rp_conv_geom *g);
static size_t wx_shared_floats(const rp_conv_geom *g);
static size_t wx_thread_floats(const rp_conv_geom *g);
static void transpose_in(const float *x, int64_t c, int64_t ld, int64_t hw, int64_t lda, float *at);

/* Stride-1 backward data as a forward convolution: dx = conv(dy, W'),
 * W'[c][k][i][j] = w[k][c][KH-1-i][KW-1-j], padding d*(k-1)-p: the
 * transposed geometry t (0 when not stride 1 or the padding would be
 * negative). bwd_ct runs it on the channel-tiled forward for wide layers on
 * small maps (ResNet-18's layer3 and layer4: the plane GEMM's 48-position
 * tiles computed 63 positions for 49 at 7x7 and its 8 rows re-read every B
 * row); bwd_wino through Winograd. */
static int bwd_transposed(const rp_conv_geom *g, rp_conv_geom *t) {
    if (g->sh != 1 || g->sw != 1 || g->ph > g->dh * (g->kh - 1) || g->pw > g->dw * (g->kw - 1))
        return 0;
    *t = *g;
    t->c = g->k, t->k = g->c, t->h = g->oh, t->w = g->ow;
    t->ph = g->dh * (g->kh - 1) - g->ph, t->pw = g->dw * (g->kw - 1) - g->pw;
    return rp_conv_geom_finish(t) && t->oh == g->h && t->ow == g->w;
}

static int bwd_ct(const rp_conv_geom *g, rp_conv_geom *t) {
    if (rp_conv_is_pointwise(g) || forced_bwd_data != RP_CONV_BWD_AUTO) return 0;
    if (g->c < 128 || g->k < 64 || g->oh * g->ow > 14 * 14) return 0;
    return bwd_transposed(g, t);
}

/* A strided 1x1 unpadded convolution (ResNet's downsampling shortcut) is
 * the 1x1 stride-1 one (gp) over the subsampled input, xs[n][c][oy][ox] =
 * x[n][c][oy*sh][ox*sw]: the forward and the weight gradient subsample the
 * batch once into the workspace and run the pointwise kernels, whose packed
 * panels read contiguous rows (read in place, each output position's
 * channel values lie a plane apart, a cache line each). ResNet-18's 128 ->
 * 256 at 28x28, 1 thread, CPU time: forward 7.6-7.9 -> 5.9-6.1 ms, weight
 * gradient 7.0-7.2 -> 6.7-6.8 ms. The backward data keeps the phase path
 * (through the pointwise kernels and a scatter it measured 2 % slower). */
static int strided_pointwise(const rp_conv_geom *g, rp_conv_geom *gp) {
    if (g->kh != 1 || g->kw != 1 || g->ph || g->pw || (g->sh == 1 && g->sw == 1)) return 0;
    *gp = *g;
    gp->h = g->oh, gp->w = g->ow, gp->sh = gp->sw = 1, gp->dh = gp->dw = 1;
    return rp_conv_geom_finish(gp);
}

static size_t sub_floats(const rp_conv_geom *g) {
    return rup((size_t)(g->n * g->c * g->oh * g->ow));
}

/* xs[n][c] = x[n][c] at stride (sh, sw) ([N][C][OH][OW]). */
static void subsample(const rp_conv_geom *g, const float *x, float *xs) {
    const int64_t hw = g->h * g->w, ohw = g->oh * g->ow;
#pragma omp parallel for num_threads(conv_threads()) schedule(static)
    for (int64_t nc = 0; nc < g->n * g->c; nc++)
        for (int64_t oy = 0; oy < g->oh; oy++) {
            const float *src = x + nc * hw + oy * g->sh * g->w;
            float *d = xs + nc * ohw + oy * g->ow;
            for (int64_t ox = 0; ox < g->ow; ox++)
                d[ox] = src[ox * g->sw];
        }
}

size_t rp_conv_workspace_floats(const rp_conv_geom *g) {
    size_t fast = shared_floats(g) + (size_t)ws_threads() * thread_floats(g);
    rp_conv_geom t;
    if (strided_pointwise(g, &t)) { /* the subsampled batch, then the pointwise workspace */
        size_t b = sub_floats(g) + rp_conv_workspace_floats(&t);
        if (b > fast) fast = b;
    }
    if (bwd_ct(g, &t)) { /* rotated weights, then the forward's workspace */
        size_t b = rup((size_t)(g->k * g->c * g->kh * g->kw)) + ct_shared_floats(&t) +
                   (size_t)ws_threads() * ct_thread_floats(&t);
        if (b > fast) fast = b;
    }
    if (bwd_transposed(g, &t) && wino_fits(&t)) { /* rotated weights, then Winograd's */
        size_t b = rup((size_t)(g->k * g->c * g->kh * g->kw)) + wg_floats(&t);
        if (b > fast) fast = b;
    }
    /* the channel-tiled forward (any geometry, as tests may force it) */
    size_t ct = ct_shared_floats(g) + (size_t)ws_threads() * ct_thread_floats(g);
    if (ct > fast) fast = ct;
    if (wino_fits(g)) {
        size_t wg = wg_floats(g);
        if (wg > fast) fast = wg;
        wg = ww_shared_floats(g) + (size_t)ws_threads() * ww_thread_floats(g);
        if (wg > fast) fast = wg;
        wg = wx_shared_floats(g) + (size_t)ws_threads() * wx_thread_floats(g);
        if (wg > fast) fast = wg;
    }
    size_t gemm = rp_conv_gemm_workspace_floats(g); /* the *_gemm passes share the workspace */
    return fast > gemm ? fast : gemm;
}

/* Where the lanes of one forward position tile go. Plain (cwp == 0): lane t
 * of vector v is C[m][pos0 + 16v + t]. Cropping (cwp > 0): positions run over
 * rows of width cwp of which the first cow are kept, so lane t maps to
 * C[m][oy*cow + ox] with (oy, ox) = divmod(pos0 + 16v + t, cwp); the kept
 * lanes of a vector form runs, each one masked store at its own base
 * (offset so = address - lane). Computed once per tile for all row blocks. */
typedef struct tile_seg {
    __mmask16 mk[NV]; /* lanes inside the tile (B loads) */
    int nseg[NV];
    __mmask16 sm[NV][17];
    int64_t so[NV][17];
} tile_seg;

static void tile_segments(int64_t np, int64_t pos0, int64_t cwp, int64_t cow, tile_seg *ts) {
    for (int v = 0; v < NV; v++) {
        int64_t left = np - 16 * v;
        ts->mk[v] = left >= 16 ? (__mmask16)0xFFFF
                               : (left <= 0 ? (__mmask16)0 : (__mmask16)((1u << left) - 1u));
        ts->nseg[v] = 0;
    }
    if (!cwp) {
        for (int v = 0; v < NV && 16 * v < np; v++) {
            ts->sm[v][0] = ts->mk[v];
            ts->so[v][0] = pos0 + 16 * v;
            ts->nseg[v] = 1;
        }
        return;
    }
    int64_t oy = pos0 / cwp, ox = pos0 - oy * cwp; /* walked, no further divisions */
    for (int v = 0; v < NV && 16 * v < np; v++) {
        const int nl = (int)i64min(16, np - 16 * v);
        int t = 0;
        while (t < nl) {
            int run;
            if (ox >= cow) { /* dropped columns */
                run = (int)i64min(nl - t, cwp - ox);
            } else {
                run = (int)i64min(nl - t, cow - ox);
                ts->sm[v][ts->nseg[v]] = (__mmask16)(((1u << run) - 1u) << t);
                ts->so[v][ts->nseg[v]] = oy * cow + ox - t;
                ts->nseg[v]++;
            }
            t += run;
            ox += run;
            if (ox == cwp) ox = 0, oy++;
        }
    }
}

/* C[mv rows, the tile's positions] = bias + A[mv, kd] * B, B row r = base +
 * off[r], stored as ts says. ap: one packed block [kd][MR]. nv = vectors
 * (1..NV) covering the tile. */
static inline __attribute__((always_inline)) void
kern_fwd(int nv, int64_t kd, const float *ap, const float *base, const int64_t *off,
         const float *bias, int mv, float *c, int64_t ldc, int accum, const tile_seg *ts,
         const rp_conv_epilogue *ep, int64_t row0, const float *res) {
    const __mmask16 *mk = ts->mk;
    const int *nseg = ts->nseg;
    const __mmask16(*sm)[17] = ts->sm;
    const int64_t(*so)[17] = ts->so;
    __m512 acc[MR][NV];
#pragma GCC unroll 8
    for (int m = 0; m < MR; m++) {
        __m512 b0 = _mm512_set1_ps(bias && m < mv ? bias[m] : 0.0f);
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++) {
            acc[m][v] = b0;
            if (accum && m < mv && v < nv) {
                acc[m][v] = _mm512_setzero_ps();
                for (int sg = 0; sg < nseg[v]; sg++)
                    acc[m][v] =
                        _mm512_mask_loadu_ps(acc[m][v], sm[v][sg],
                                             (const float *)((uintptr_t)(c + m * ldc) +
                                                             so[v][sg] * (int64_t)sizeof(float)));
            }
        }
    }
    for (int64_t r = 0; r < kd; r++) {
        const float *b = base + off[r];
        __m512 bv[NV];
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++)
            if (v < nv) bv[v] = _mm512_maskz_loadu_ps(mk[v], b + 16 * v);
        const float *a = ap + r * MR;
#pragma GCC unroll 8
        for (int m = 0; m < MR; m++) {
            __m512 av = _mm512_set1_ps(a[m]);
#pragma GCC unroll 3
            for (int v = 0; v < NV; v++)
                if (v < nv) acc[m][v] = _mm512_fmadd_ps(av, bv[v], acc[m][v]);
        }
    }
#pragma GCC unroll 8
    for (int m = 0; m < MR; m++) {
        if (m >= mv) break;
        if (ep) { /* act(scale * acc + shift), rows row0 + m */
            const __m512 sc = _mm512_set1_ps(ep->scale ? ep->scale[row0 + m] : 1.0f);
            const __m512 sh = _mm512_set1_ps(ep->shift ? ep->shift[row0 + m] : 0.0f);
#pragma GCC unroll 3
            for (int v = 0; v < NV; v++) {
                acc[m][v] = _mm512_fmadd_ps(acc[m][v], sc, sh);
                if (res) /* residual rows have C's layout: the same segments */
                    for (int sg = 0; sg < nseg[v]; sg++)
                        acc[m][v] = _mm512_add_ps(
                            acc[m][v],
                            _mm512_maskz_loadu_ps(
                                sm[v][sg], (const float *)((uintptr_t)(res + m * ldc) +
                                                           so[v][sg] * (int64_t)sizeof(float))));
                if (ep->relu) acc[m][v] = _mm512_max_ps(acc[m][v], _mm512_setzero_ps());
            }
        }
#pragma GCC unroll 3
        for (int v = 0; v < NV; v++)
            for (int sg = 0; sg < nseg[v]; sg++)
                _mm512_mask_storeu_ps(
                    (float *)((uintptr_t)(c + m * ldc) + so[v][sg] * (int64_t)sizeof(float)),
                    sm[v][sg], acc[m][v]);
    }
}

/* gemm_rows' reduction chunk: long reductions in equal chunks of at most 512
 * rows, so a chunk of B stays in cache across the row blocks. */
static int64_t gemm_kc(int64_t kd) {
    const int64_t nch = kd > 768 ? (kd + 511) / 512 : 1;
    return (kd + nch - 1) / nch;
}

/* The packed-panel buffer of a 1x1 layer's gemm_rows (see there): the thread
 * buffer tb (per floats) when the map has two tiles or more and tb holds a
 * panel; else NULL (rows read in place). *pw: the panel's width, whole tiles,
 * the panel ([kc][pw]) kept to about 512 KB so it stays in L2. */
static float *pw_panel(const rp_conv_geom *g, int64_t kd, float *tb, size_t per, int64_t *pw) {
    const int64_t kc = gemm_kc(kd), hw = g->h * g->w;
    int64_t w = i64min(8, i64max(1, (1 << 17) / (kc * NR))) * NR;
    while (w > NR && (size_t)(kc * w + 2 * kc + 16) > per)
        w -= NR;
    *pw = w;
    return hw >= 2 * NR && (size_t)(kc * w + 2 * kc + 16) <= per ? tb : NULL;
}

/* C[m, P] = bias + A[m, kd] * B over positions p < P, B row r = base + off[r];
 * ap packed [ceil(m/MR)][kd][MR]. cwp == 0: C row i at c + i*ldc, position p
 * at column p. cwp > 0: positions are rows of width cwp whose first cow
 * columns are kept, written compacted (row i at c + i*ldc, p -> (p/cwp)*cow +
 * p%cwp). */
static void gemm_rows(const float *ap, int64_t m, int64_t kd, const float *base, const int64_t *off,
                      int64_t P, const float *bias, float *c, int64_t ldc, int64_t cwp, int64_t cow,
                      const rp_conv_epilogue *ep, const float *res, float *pk, int64_t pw) {
    /* reductions in chunks (gemm_kc); later chunks accumulate onto C */
    const int64_t kc = gemm_kc(kd);
    /* pk (1x1 layers on large maps, cwp == 0): B rows are whole channel
     * planes, hw floats apart, so a 48-position tile reads 192 bytes from each
     * of kd pages: too many streams for the prefetchers, and every row block
     * re-reads them. Instead a panel of pw positions (several tiles) is
     * copied row by row, long sequential reads, into contiguous rows pk
     * ([kc][pw] floats, then kc offsets) that the tiles' row blocks read from
     * L2. The products and their order are the same, so are the bits. */
    int64_t *pkoff = pk ? (int64_t *)(void *)(pk + kc * pw) : NULL;
    for (int64_t r = 0; pk && r < kc; r++)
        pkoff[r] = r * pw;
    const int64_t span = pk ? pw : P;
    for (int64_t k0 = 0; k0 < kd; k0 += kc) {
        const int64_t kn = i64min(kc, kd - k0);
        const int acc = k0 > 0;
        /* the epilogue goes with the last chunk's store */
        const rp_conv_epilogue *ef = k0 + kn == kd ? ep : NULL;
        for (int64_t p0 = 0; p0 < P; p0 += span) {
            const int64_t pn = i64min(span, P - p0);
            if (pk)
                for (int64_t r = 0; r < kn; r++)
                    memcpy(pk + r * pw, base + p0 + off[k0 + r], sizeof(float) * (size_t)pn);
            /* position tiles outside, row blocks inside: a tile's B rows stay
             * in cache while every row block uses them */
            for (int64_t p = p0; p < p0 + pn; p += NR) {
                const int64_t np = i64min(NR, p0 + pn - p);
                tile_seg ts;
                tile_segments(np, p, cwp, cow, &ts);
                const float *tb = pk ? pk + (p - p0) : base + p;
                const int64_t *to = pk ? pkoff : off + k0;
                for (int64_t mb = 0; mb < m; mb += MR) {
                    int mv = (int)i64min(MR, m - mb);
                    const float *a = ap + mb * kd + k0 * MR;
                    const float *bb = bias && !acc ? bias + mb : NULL;
                    float *cb = c + mb * ldc;
                    const float *rb = ef && res ? res + mb * ldc : NULL;
                    if (np > 32)
                        kern_fwd(3, kn, a, tb, to, bb, mv, cb, ldc, acc, &ts, ef, mb, rb);
                    else if (np > 16)
                        kern_fwd(2, kn, a, tb, to, bb, mv, cb, ldc, acc, &ts, ef, mb, rb);
                    else
                        kern_fwd(1, kn, a, tb, to, bb, mv, cb, ldc, acc, &ts, ef, mb, rb);
                }
            }
        }
    }
}

/* Transposed weight-gradient tile, no horizontal sums: for each position p,
 * out[row][k-vector] += a(row, p) * dyT[p][k-vector], where the broadcast
 * operand of row g*J+j is ap[g][p*ps + j] (G pointers, J taps each).
 * dyT rows have stride ldb (a multiple of 16, zero padded beyond K). */
static inline __attribute__((always_inline)) void
kern_wt(int G, int J, int nvk, int64_t P, const float *const *ap, int64_t ps, const float *b,
        int64_t ldb, float *out, int64_t ldo, int rows, int nb, int64_t as, int64_t bs) {
    __m512 acc[24][3];
#pragma GCC unroll 24
    for (int m = 0; m < G * J; m++)
#pragma GCC unroll 3
        for (int v = 0; v < nvk; v++)
            acc[m][v] = _mm512_setzero_ps();
    /* nb images: operands at image strides as (a) and bs (b), summed in order */
    for (int im = 0; im < nb; im++) {
        const float *a0 = ap[0] + im * as, *a1 = (G > 1 ? ap[1] : ap[0]) + im * as;
        const float *a2 = (G > 2 ? ap[2] : ap[0]) + im * as,
                    *a3 = (G > 3 ? ap[3] : ap[0]) + im * as;
        const float *a4 = (G > 4 ? ap[4] : ap[0]) + im * as,
                    *a5 = (G > 5 ? ap[5] : ap[0]) + im * as;
        const float *bi = b + im * bs;
        for (int64_t p = 0; p < P; p++) {
            __m512 bv[3];
#pragma GCC unroll 3
            for (int v = 0; v < nvk; v++)
                bv[v] = _mm512_loadu_ps(bi + p * ldb + 16 * v);
#pragma GCC unroll 6
            for (int gg = 0; gg < G; gg++) {
                const float *a = gg == 0   ? a0
                                 : gg == 1 ? a1
                                 : gg == 2 ? a2
                                 : gg == 3 ? a3
                                 : gg == 4 ? a4
                                           : a5;
#pragma GCC unroll 24
                for (int j = 0; j < J; j++) {
                    __m512 av = _mm512_set1_ps(a[p * ps + j]);
#pragma GCC unroll 3
                    for (int v = 0; v < nvk; v++)
                        acc[gg * J + j][v] = _mm512_fmadd_ps(av, bv[v], acc[gg * J + j][v]);
                }
            }
        }
    }
#pragma GCC unroll 24
    for (int m = 0; m < G * J; m++) {
        if (m >= rows) break;
#pragma GCC unroll 3
        for (int v = 0; v < nvk; v++) {
            float *o = out + m * ldo + 16 * v;
            _mm512_storeu_ps(o, _mm512_add_ps(_mm512_loadu_ps(o), acc[m][v]));
        }
    }
}

/* dwT[r][k] += sum_p A(r, p) * dyT[p][k] for rows in [0, rn) with A given by a
 * row-major transposed operand at[p][r] (stride lda >= rn rounded up to 24,
 * zero beyond rn): im2col'ed or channels-last input. dwT rows have stride kp
 * (= dyT stride, multiple of 16). */
static void wgrad_t_rows(const float *at, int64_t lda, int64_t rn, const float *dyt, int64_t kp,
                         int64_t P, float *dwt, int nb, int64_t as, int64_t bs) {
    /* positions in blocks whose operand rows (nb images of at and dyT) stay
     * within ~512 KB, so the row tiles re-read them from L2 rather than
     * memory (ResNet-50's 256 channels at 56x56: 3.3 MB per image); each
     * block's sums are added to dwT in block order. A single block when
     * everything fits (the order of a plain sum over P). */
    const int64_t pb = i64max(64, (int64_t)(1 << 17) / ((lda + kp) * nb));
    if (P > pb) {
        for (int64_t p0 = 0; p0 < P; p0 += pb)
            wgrad_t_rows(at + p0 * lda, lda, rn, dyt + p0 * kp, kp, i64min(pb, P - p0), dwt, nb, as,
                         bs);
        return;
    }
    for (int64_t k0 = 0; k0 < kp; k0 += 32) {
        int nvk = kp - k0 >= 32 ? 2 : 1;
        int mr = nvk == 2 ? 12 : 24;
        for (int64_t r0 = 0; r0 < rn; r0 += mr) {
            int rows = (int)i64min(mr, rn - r0);
            /* a tail tile reads zero columns of at and stores only its rows */
            const float *ap[1] = {at + r0};
            float *o = dwt + r0 * kp + k0;
            if (nvk == 2)
                kern_wt(1, 12, 2, P, ap, lda, dyt + k0, kp, o, kp, rows, nb, as, bs);
            else
                kern_wt(1, 24, 1, P, ap, lda, dyt + k0, kp, o, kp, rows, nb, as, bs);
        }
    }
}

/* 3x3, dilation 1, stride 1 over a padded plane (row width wp): rows (c,i,j)
 * read pad[c*plane + i*wp + j + p] directly (no im2col). */
static void wgrad_t_3x3(const float *pad, int64_t c, int64_t plane, int64_t wp, const float *dyt,
                        int64_t kp, int64_t P, float *dwt, int nb, int64_t as, int64_t bs) {
    for (int64_t k0 = 0; k0 < kp; k0 += 32) {
        int nvk = kp - k0 >= 32 ? 2 : 1;
        int64_t c0 = 0;
        if (nvk == 1) /* two channels per tile: 18 accumulators */
            for (; c0 + 2 <= c; c0 += 2) {
                const float *ap[6];
                for (int g = 0; g < 6; g++)
                    ap[g] = pad + (c0 + g / 3) * plane + (g % 3) * wp;
                kern_wt(6, 3, 1, P, ap, 1, dyt + k0, kp, dwt + c0 * 9 * kp + k0, kp, 18, nb, as,
                        bs);
            }
        for (; c0 < c; c0++) {
            const float *ap[3];
            for (int g = 0; g < 3; g++)
                ap[g] = pad + c0 * plane + g * wp;
            if (nvk == 2)
                kern_wt(3, 3, 2, P, ap, 1, dyt + k0, kp, dwt + c0 * 9 * kp + k0, kp, 9, nb, as, bs);
            else
                kern_wt(3, 3, 1, P, ap, 1, dyt + k0, kp, dwt + c0 * 9 * kp + k0, kp, 9, nb, as, bs);
        }
    }
}

/* Weight gradient over phase planes for any geometry: rows r read
 * pl[off[r] + p], six rows per tile, dyT[p][k] in the plane's position layout
 * (zero in discarded columns). */
static void wgrad_t_planes(const float *pl, const int64_t *off, int64_t rn, const float *dyt,
                           int64_t kp, int64_t P, float *dwt, int nb, int64_t as, int64_t bs) {
    /* positions in blocks whose dyT rows (nb images) stay within ~512 KB,
     * so the row tiles re-read them from L2 rather than memory (ResNet-18's
     * first layer: 147 rows over 12,880 positions of 64 channels, 3.3 MB an
     * image; 2x, CPU time, 1 thread); each block's sums are added to dwT in
     * block order */
    const int64_t pb = i64max(256, (int64_t)(1 << 17) / (kp * nb)) / 16 * 16;
    const int64_t blk = P > pb + pb / 2 ? pb : P;
    for (int64_t p0 = 0; p0 < P; p0 += blk) {
        const int64_t pn = i64min(blk, P - p0);
        for (int64_t k0 = 0; k0 < kp; k0 += 32) {
            int nvk = kp - k0 >= 32 ? 2 : 1;
            for (int64_t r0 = 0; r0 < rn; r0 += 6) {
                int rows = (int)i64min(6, rn - r0);
                const float *ap[6];
                for (int g = 0; g < 6; g++)
                    ap[g] = pl + off[r0 + (g < rows ? g : rows - 1)] + p0;
                const float *b = dyt + p0 * kp + k0;
                float *o = dwt + r0 * kp + k0;
                if (nvk == 2)
                    kern_wt(6, 1, 2, pn, ap, 1, b, kp, o, kp, rows, nb, as, bs);
                else
                    kern_wt(6, 1, 1, pn, ap, 1, b, kp, o, kp, rows, nb, as, bs);
            }
        }
    }
}

/* Pack A[m, kd] (element (i, r) at a[i*lda_i + r*lda_r]) into [ceil(m/MR)][kd][MR]. */
static void pack_a(const float *a, int64_t m, int64_t kd, int64_t lda_i, int64_t lda_r, float *ap) {
    for (int64_t mb = 0; mb < m; mb += MR)
        for (int64_t r = 0; r < kd; r++)
            for (int64_t i = 0; i < MR; i++)
                ap[mb * kd + r * MR + i] = mb + i < m ? a[(mb + i) * lda_i + r * lda_r] : 0.0f;
}

/* d[0, w) = src[0, w). Rows are short on small maps (8 floats at 8x8):
 * vector copies with a masked tail instead of one memcpy call per row. */
static inline void copy_row(float *d, const float *src, int64_t w) {
    int64_t x = 0;
    for (; x + 16 <= w; x += 16)
        _mm512_storeu_ps(d + x, _mm512_loadu_ps(src + x));
    const __mmask16 tail = (__mmask16)((1u << (w - x)) - 1u);
    if (tail) _mm512_mask_storeu_ps(d + x, tail, _mm512_maskz_loadu_ps(tail, src + x));
}

/* Write the zero-padded planes [c, h+2ph, w+2pw] of img[c, h, w], borders
 * included (so the buffer needs no clearing first). */
static void pad_copy(const float *img, int64_t c, int64_t h, int64_t w, int64_t ph, int64_t pw,
                     float *pad) {
    const int64_t hp = h + 2 * ph, wp = w + 2 * pw;
    for (int64_t ci = 0; ci < c; ci++) {
        float *pc = pad + ci * hp * wp;
        memset(pc, 0, sizeof(float) * (size_t)(ph * wp));
        for (int64_t y = 0; y < h; y++) {
            float *row = pc + (y + ph) * wp;
            for (int64_t x = 0; x < pw; x++)
                row[x] = row[pw + w + x] = 0.0f;
            copy_row(row + pw, img + (ci * h + y) * w, w);
        }
        memset(pc + (ph + h) * wp, 0, sizeof(float) * (size_t)(ph * wp));
    }
}

/* img[c, h, w] into the zeroed phase planes [c][sh][sw][HS][WS] (plane_hs/ws).
 * row: scratch of 2*WS + 32 floats for stride 2 (NULL: scalar copy). */
static void plane_copy(const rp_conv_geom *g, const float *img, float *pl, float *row) {
    const int64_t hs = plane_hs(g), ws = plane_ws(g), sh = g->sh, sw = g->sw;
    for (int64_t ci = 0; ci < g->c; ci++)
        for (int64_t y = 0; y < g->h; y++) {
            const float *src = img + (ci * g->h + y) * g->w;
            int64_t yy = y + g->ph;
            float *base = pl + (ci * sh + yy % sh) * sw * hs * ws + (yy / sh) * ws;
            if (sw == 1) {
                copy_row(base + g->pw, src, g->w);
                continue;
            }
            if (sw == 2 && row) {
                /* padded row, then even/odd columns with two permutes per 32 */
                memset(row, 0, sizeof(float) * (size_t)(2 * ws + 32));
                memcpy(row + g->pw, src, sizeof(float) * (size_t)g->w);
                const __m512i ev =
                    _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
                const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
                float *e = base, *o = base + hs * ws;
                int64_t t = 0;
                for (; t + 16 <= ws; t += 16) {
                    __m512 lo = _mm512_loadu_ps(row + 2 * t),
                           hi = _mm512_loadu_ps(row + 2 * t + 16);
                    _mm512_storeu_ps(e + t, _mm512_permutex2var_ps(lo, ev, hi));
                    _mm512_storeu_ps(o + t, _mm512_permutex2var_ps(lo, od, hi));
                }
                for (; t < ws; t++) {
                    e[t] = row[2 * t];
                    o[t] = row[2 * t + 1];
                }
                continue;
            }
            for (int64_t x = 0; x < g->w; x++) {
                int64_t xx = x + g->pw;
                base[(xx % sw) * hs * ws + xx / sw] = src[x];
            }
        }
}

static void plane_offsets(const rp_conv_geom *g, int64_t *off) {
    const int64_t hs = plane_hs(g), ws = plane_ws(g);
    for (int64_t ci = 0; ci < g->c; ci++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) {
                int64_t ti = i * g->dh, tj = j * g->dw;
                off[(ci * g->kh + i) * g->kw + j] =
                    ((ci * g->sh + ti % g->sh) * g->sw + tj % g->sw) * hs * ws + (ti / g->sh) * ws +
                    tj / g->sw;
            }
}

static void s1_offsets(int64_t c, int64_t hp, int64_t wp, int64_t kh, int64_t kw, int64_t dh,
                       int64_t dw, int64_t *off) {
    for (int64_t ci = 0; ci < c; ci++)
        for (int64_t i = 0; i < kh; i++)
            for (int64_t j = 0; j < kw; j++)
                off[(ci * kh + i) * kw + j] = ci * hp * wp + i * dh * wp + j * dw;
}

static void row_offsets(int64_t n, int64_t ld, int64_t *off) {
    for (int64_t r = 0; r < n; r++)
        off[r] = r * ld;
}

/* ---- channel-tiled forward (PATH_CT) -------------------------------------------
 * The transposed register tile: output channels are the vector dimension and
 * output positions the broadcast operand, yT[q][k-vector] += x(q, r) * wT[r][k-vector]
 * for reduction rows r = (c, i, j). Each of the CT_NP positions of a tile has
 * its own base pointer into a zero-padded copy of its image (or the image
 * itself when unpadded), and row r adds off[r] to every base, so:
 *   - only valid output positions are computed (the plane path also computes
 *     the padding columns of every output row: 20-40 % extra work on 7x7 to
 *     16x16 maps), and any stride / dilation reads the plain padded image;
 *   - positions of several images form one list, so a panel of packed weights
 *     (CT_KC rows x one 64-channel tile) is reused by all of them from cache
 *     instead of the whole weight matrix being streamed once per image.
 * The tile goes to a channels-last scratch yT[q][64]; a 16x16 register
 * transpose then writes it to NCHW with bias and the epilogue fused. */
#define CT_KV 4 /* 16-float vectors per channel tile (64 channels) */
#define CT_TW (16 * CT_KV)
#define CT_KC 1024 /* reduction rows per panel (<= 256 KB of weights) */
#define CT_PMAX 8  /* most positions per register tile */

/* yt[q][16v..] (+)= sum_r x(bq + off[r]) * wt[r][16v..] for q < NP, v < NVK. */
static inline __attribute__((always_inline)) void
kern_ct(int nvk, int np, int64_t kd, const float *wt, int64_t ldw, const int64_t *off,
        const float *const *xb, float *yt, int accum) {
    __m512 acc[CT_PMAX][CT_KV];
    const float *bq[CT_PMAX];
#pragma GCC unroll 8
    for (int q = 0; q < CT_PMAX; q++) {
        bq[q] = q < np ? xb[q] : xb[0];
#pragma GCC unroll 4
        for (int v = 0; v < CT_KV; v++)
            if (q < np && v < nvk)
                acc[q][v] = accum ? _mm512_load_ps(yt + q * CT_TW + 16 * v) : _mm512_setzero_ps();
    }
    for (int64_t r = 0; r < kd; r++) {
        const int64_t o = off[r];
        __m512 wv[CT_KV];
#pragma GCC unroll 4
        for (int v = 0; v < CT_KV; v++)
            if (v < nvk) wv[v] = _mm512_load_ps(wt + r * ldw + 16 * v);
#pragma GCC unroll 8
        for (int q = 0; q < CT_PMAX; q++) {
            if (q >= np) break;
            __m512 a = _mm512_set1_ps(bq[q][o]);
#pragma GCC unroll 4
            for (int v = 0; v < CT_KV; v++)
                if (v < nvk) acc[q][v] = _mm512_fmadd_ps(a, wv[v], acc[q][v]);
        }
    }
#pragma GCC unroll 8
    for (int q = 0; q < CT_PMAX; q++)
#pragma GCC unroll 4
        for (int v = 0; v < CT_KV; v++)
            if (q < np && v < nvk) _mm512_store_ps(yt + q * CT_TW + 16 * v, acc[q][v]);
}

/* kern_ct over positions [0, nq) in register tiles (6 positions for a
 * 64-channel tile, else 8): yt[q][...] (+)= rows of wt at off for xb[q]. */
static void ct_positions(int nvk, int64_t nq, int64_t kd, const float *wt, int64_t ldw,
                         const int64_t *off, const float *const *xb, float *yt, int accum) {
    for (int64_t q = 0; q < nq; q += (nvk == 4 ? 6 : 8)) {
        float *yq = yt + q * CT_TW;
        switch (nvk) {
        case 4:
            kern_ct(4, 6, kd, wt, ldw, off, xb + q, yq, accum);
            break;
        case 3:
            kern_ct(3, 8, kd, wt, ldw, off, xb + q, yq, accum);
            break;
        case 2:
            kern_ct(2, 8, kd, wt, ldw, off, xb + q, yq, accum);
            break;
        default:
            kern_ct(1, 8, kd, wt, ldw, off, xb + q, yq, accum);
            break;
        }
    }
}

/* r[i] <- column i of the 16x16 matrix whose rows are r[0..15]. */
static inline __attribute__((always_inline)) void transpose16(__m512 r[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        u[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    /* u[4b + j] holds, in each 128-bit lane L, row (4L'..) elements: combine lanes */
    for (int b = 0; b < 16; b += 8)
        for (int j = 0; j < 4; j++) {
            t[b + j] = _mm512_shuffle_f32x4(u[b + j], u[b + 4 + j], 0x88);
            t[b + 4 + j] = _mm512_shuffle_f32x4(u[b + j], u[b + 4 + j], 0xdd);
        }
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0x88);
        r[8 + j] = _mm512_shuffle_f32x4(t[j], t[8 + j], 0xdd);
    }
}

typedef struct ct_plan {
    int64_t kp;     /* K rounded up to 16 */
    int64_t ld_img; /* floats per padded image copy (0: read the input itself) */
    int64_t hp, wp; /* the read image's height / row width */
    int64_t grp;    /* images per group */
    int64_t npos;   /* positions per group, rounded up to CT_PMAX and 16 */
} ct_plan;

static void ct_make_plan(const rp_conv_geom *g, ct_plan *p) {
    const int64_t ohw = g->oh * g->ow;
    p->kp = rup16(g->k);
    const int padded = g->ph || g->pw;
    p->hp = g->h + 2 * g->ph;
    p->wp = g->w + 2 * g->pw;
    p->ld_img = padded ? rup16(g->c * p->hp * p->wp + 16) : 0;
    /* ~192 positions per group: enough tiles to amortise each weight panel
     * (at most 8 padded copies per thread; unpadded images are read in place,
     * so tiny maps, e.g. a linear layer's 1x1, may group up to 192 images) */
    p->grp = i64max(1, i64min(g->n, i64min(p->ld_img ? 8 : 192, (192 + ohw - 1) / ohw)));
    p->npos = (p->grp * ohw + 15) / 16 * 16 + 16;
}

/* Measured (bench_conv, CPU time, 2 threads): with 32 or more output
 * channels the channel-tiled path is as fast as the plane path on large maps
 * (56x56, 32x32) and 10-35 % faster on 16x16 and smaller maps and on every
 * strided layer; with 16 channels its one-vector tiles are bound by the
 * broadcast loads, and the plane path stays ahead. */
static int ct_wanted(const rp_conv_geom *g) {
    /* 1x1 on maps of two tiles or more: the plane path's packed panels
     * (gemm_rows) measured 2x the channel-tiled path on ResNet-50's 1x1
     * layers at 56x56 and 28x28, and even at 14x14 (bench_conv, CPU time,
     * 1 thread) */
    if (rp_conv_is_pointwise(g) && g->h * g->w >= 2 * NR) return 0;
    /* (maps under 16 positions would leave the plane path's 48-wide tiles
     * mostly empty, whatever the channel count) */
    return g->k >= 32 || g->oh * g->ow < 16;
}

static size_t ct_shared_floats(const rp_conv_geom *g) {
    const int64_t ckk = g->c * g->kh * g->kw;
    return rup((size_t)(rup16(g->k) * ckk)) + rup((size_t)(2 * ckk));
}

static size_t ct_thread_floats(const rp_conv_geom *g) {
    ct_plan p;
    ct_make_plan(g, &p);
    /* images, yT [npos][64], base pointers (2 floats each) */
    return rup((size_t)(p.grp * p.ld_img)) + (size_t)(p.npos * CT_TW) + rup((size_t)(2 * p.npos)) +
           64;
}

/* Pack row r of w[K][ckk] into tiles of 64 channels: tile t holds
 * wt[r][kk] = w[64t + kk][r] ([ckk][tw], tw = that tile's width rounded to
 * 16, zero beyond K). */
static void ct_pack_row(const float *w, int64_t k, int64_t kp, int64_t ckk, int64_t r, float *wt) {
    for (int64_t k0 = 0; k0 < kp; k0 += CT_TW) {
        const int64_t tw = i64min(CT_TW, kp - k0);
        float *t = wt + k0 * ckk + r * tw;
        for (int64_t kk = 0; kk < tw; kk++)
            t[kk] = k0 + kk < k ? w[(k0 + kk) * ckk + r] : 0.0f;
    }
}

/* yT tile (positions [0, np) of the group, channels [k0, k0 + kn)) -> y, with
 * bias and epilogue: y[q' / ohw][k][q' % ohw] for q' = q + qoff (y at the
 * group's first image). */
static void ct_store(const float *yt, int64_t npos_valid, int64_t qoff, int64_t ohw, int64_t kdim,
                     int64_t k0, int64_t kn, float *y, const float *b, const rp_conv_epilogue *ep,
                     const float *res) {
    /* 16 channels outside: 16 output planes written at a time (64, one per
     * channel of the tile, outran the prefetchers) */
    for (int64_t c0 = 0; c0 < kn; c0 += 16)
        for (int64_t q0 = 0; q0 < npos_valid; q0 += 16) {
            const int64_t lanes = i64min(16, npos_valid - q0);
            /* lanes may cross into the next image(s): one segment each, masked
             * lanes [t, t+run) at y offset (n*K + k)*OH*OW + pos - t, i.e. so +
             * k*OH*OW (the same for every channel) */
            __mmask16 sm[17];
            int64_t so[17];
            int ns = 0;
            for (int64_t t = 0; t < lanes;) {
                const int64_t q = q0 + t + qoff, n = q / ohw, pos = q - n * ohw;
                const int64_t run = i64min(lanes - t, ohw - pos);
                sm[ns] = (__mmask16)(((1u << run) - 1u) << t);
                so[ns++] = n * kdim * ohw + pos - t;
                t += run;
            }
            __m512 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = _mm512_load_ps(yt + (q0 + i) * CT_TW + c0);
            transpose16(r); /* r[i] = channel k0 + c0 + i over positions q0.. */
            for (int i = 0; i < 16 && c0 + i < kn; i++) {
                const int64_t k = k0 + c0 + i, ko = k * ohw;
                __m512 v = r[i];
                if (b) v = _mm512_add_ps(v, _mm512_set1_ps(b[k]));
                if (ep) {
                    if (ep->scale) v = _mm512_mul_ps(v, _mm512_set1_ps(ep->scale[k]));
                    if (ep->shift) v = _mm512_add_ps(v, _mm512_set1_ps(ep->shift[k]));
                }
                if (res)
                    for (int sg = 0; sg < ns; sg++)
                        v = _mm512_add_ps(
                            v,
                            _mm512_maskz_loadu_ps(
                                sm[sg], (const float *)((uintptr_t)res +
                                                        (so[sg] + ko) * (int64_t)sizeof(float))));
                if (ep && ep->relu) v = _mm512_max_ps(v, _mm512_setzero_ps());
                for (int sg = 0; sg < ns; sg++)
                    _mm512_mask_storeu_ps(
                        (float *)((uintptr_t)y + (so[sg] + ko) * (int64_t)sizeof(float)), sm[sg],
                        v);
            }
        }
}

static void conv_forward_ct(const rp_conv_geom *g, const float *x, const float *w, const float *b,
                            float *y, float *ws, const rp_conv_epilogue *ep) {
    const int64_t ckk = g->c * g->kh * g->kw, ohw = g->oh * g->ow, hw = g->h * g->w;
    ct_plan p;
    ct_make_plan(g, &p);
    float *wt = ws;
    int64_t *off = (int64_t *)(void *)(ws + rup((size_t)(p.kp * ckk)));
    float *thr = ws + ct_shared_floats(g);
    const size_t per = ct_thread_floats(g);
    s1_offsets(g->c, p.hp, p.wp, g->kh, g->kw, g->dh, g->dw, off);
    const int64_t ngroups = (g->n + p.grp - 1) / p.grp;
#pragma omp parallel num_threads(conv_threads())
    {
        float *tb = thr + (size_t)omp_get_thread_num() * per;
        float *imgs = tb;
        float *yt = tb + rup((size_t)(p.grp * p.ld_img));
        const float **xb = (const float **)(void *)(yt + p.npos * CT_TW);
        /* (the implied barrier: all weights packed before any group starts) */
#pragma omp for schedule(static)
        for (int64_t r = 0; r < ckk; r++)
            ct_pack_row(w, g->k, p.kp, ckk, r, wt);
#pragma omp for schedule(dynamic, 1) nowait
        for (int64_t gi = 0; gi < ngroups; gi++) {
            const int64_t n0 = gi * p.grp, gn = i64min(p.grp, g->n - n0), nq = gn * ohw;
            for (int64_t i = 0; i < gn; i++) {
                const float *src = x + (n0 + i) * g->c * hw; /* [C, H, W] */
                if (p.ld_img) {
                    pad_copy(src, g->c, g->h, g->w, g->ph, g->pw, imgs + i * p.ld_img);
                    src = imgs + i * p.ld_img; /* [C, H+2ph, W+2pw] */
                }
                for (int64_t oy = 0; oy < g->oh; oy++)
                    for (int64_t ox = 0; ox < g->ow; ox++)
                        xb[i * ohw + oy * g->ow + ox] = src + oy * g->sh * p.wp + ox * g->sw;
            }
            for (int64_t q = nq; q < nq + CT_PMAX; q++)
                xb[q] = xb[nq - 1];
            for (int64_t k0 = 0; k0 < p.kp; k0 += CT_TW) {
                const int64_t tw = i64min(CT_TW, p.kp - k0);
                const int nvk = (int)(tw / 16);
                const float *wtile = wt + k0 * ckk;
                const int64_t nch = (ckk + CT_KC - 1) / CT_KC, kc = (ckk + nch - 1) / nch;
                for (int64_t r0 = 0; r0 < ckk; r0 += kc) {
                    const int64_t kn = i64min(kc, ckk - r0);
                    const int accum = r0 > 0;
                    const float *wr = wtile + r0 * tw;
                    ct_positions(nvk, nq, kn, wr, tw, off + r0, xb, yt, accum);
                }
                ct_store(yt, nq, 0, ohw, g->k, k0, i64min(tw, g->k - k0), y + n0 * g->k * ohw, b,
                         ep, ep && ep->residual ? ep->residual + n0 * g->k * ohw : NULL);
            }
        }
    }
}

static void conv_forward_planes(const rp_conv_geom *g, const float *x, const float *w,
                                const float *b, float *y, float *ws, const rp_conv_epilogue *ep) {
    const int64_t ckk = g->c * g->kh * g->kw, ohw = g->oh * g->ow, hw = g->h * g->w;
    const int64_t wp = plane_ws(g);
    const int path = fwd_path(g);
    float *ap = ws;
    int64_t *off = (int64_t *)(void *)(ws + rup((size_t)((g->k + MR - 1) / MR * MR * ckk)));
    float *thr = ws + shared_floats(g);
    const size_t per = thread_floats(g);
    pack_a(w, g->k, ckk, ckk, 1, ap);
    if (path == PATH_S1)
        plane_offsets(g, off);
    else
        row_offsets(ckk, hw, off);
#pragma omp parallel num_threads(conv_threads())
    {
        float *tb = thr + (size_t)omp_get_thread_num() * per;
        float *pad = tb;
        /* stride 1: the plane is the padded image, written borders included
         * by pad_copy, so only the slack after it (read by dropped columns)
         * needs clearing; phase planes are cleared whole, once */
        const int s1 = g->sh == 1 && g->sw == 1;
        const int64_t img = g->c * (g->h + 2 * g->ph) * (g->w + 2 * g->pw);
        if (path == PATH_S1)
            memset(pad + (s1 ? img : 0), 0,
                   sizeof(float) * (size_t)(plane_floats(g) - (s1 ? img : 0)));
            /* images are independent: dynamic, so a descheduled thread does not
             * hold the others up on a busy machine */
#pragma omp for schedule(dynamic, 1) nowait
        for (int64_t n = 0; n < g->n; n++) {
            const float *xn = x + n * g->c * hw; /* [C, H, W] */
            float *yn = y + n * g->k * ohw;      /* [K, OH, OW] */
            const float *rn = ep && ep->residual ? ep->residual + n * g->k * ohw : NULL;
            if (path == PATH_POINTWISE) {
                int64_t pw;
                float *pk = pw_panel(g, ckk, tb, per, &pw);
                gemm_rows(ap, g->k, ckk, xn, off, hw, b, yn, ohw, 0, 0, ep, rn, pk, pw);
            } else if (path == PATH_S1) {
                if (s1)
                    pad_copy(xn, g->c, g->h, g->w, g->ph, g->pw, pad);
                else
                    plane_copy(g, xn, pad, tb + per - rup((size_t)(2 * wp + 32)));
                gemm_rows(ap, g->k, ckk, pad, off, g->oh * wp, b, yn, ohw, wp, g->ow, ep, rn, NULL,
                          0);
            }
        }
    }
}

/* ---- Winograd F(2x2, 3x3) forward (PATH_WINO) -----------------------------------
 * Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR
 * 2016): each 2x2 output tile is A^T [ (G g G^T) .* (B^T d B) ] A over the 4x4
 * input patch d, so a 3x3 stride-1 convolution becomes 16 independent
 * products M[xi] = V[xi] . U[xi] (tiles x C times C x K): 2.25x fewer
 * multiplications than the direct form. The transform matrices hold only
 * 0, +-1 and 1/2, so the rounding stays that of a float32 reordering.
 * The products run on the channel-tiled kernel (kern_ct): tiles are the
 * broadcast operand read from V[xi][c][tile], channels the vectors. Tiles
 * come in groups (whole tile rows of one image, or whole images) whose
 * outputs are a contiguous range of positions, stored through ct_store. */
#define WG_TILES 64 /* tiles per group (target) */

/* The geometries F(2x2, 3x3) computes. */
static int wino_fits(const rp_conv_geom *g) {
    return g->kh == 3 && g->kw == 3 && g->sh == 1 && g->sw == 1 && g->dh == 1 && g->dw == 1 &&
           g->ph <= 2 && g->pw <= 2;
}

typedef struct wg_plan {
    int64_t th, tw; /* tiles per image (rows, columns) */
    int64_t kp;     /* K rounded up to 16 */
    int64_t rows;   /* tile rows per group (partial images) */
    int64_t imgs;   /* images per group (whole images; rows = th) */
    int64_t tg;     /* most tiles in a group */
    int64_t ts;     /* V row stride (tg rounded up to 16) */
    int64_t ngroups;
    int hwc;    /* channels-last input transform (whole images, < 16 tiles a row) */
    int64_t cp; /* C rounded up to 16 */
} wg_plan;

static int64_t wg_ngroups(const wg_plan *p, int64_t n);

/* m x m output tiles (m = 2 or 4) cut into groups of about `target` tiles:
 * bands of whole tile rows of one image, or whole images. */
static void wg_tiling(const rp_conv_geom *g, int64_t m, int64_t target, wg_plan *p) {
    p->th = (g->oh + m - 1) / m, p->tw = (g->ow + m - 1) / m, p->kp = rup16(g->k);
    const int64_t per_img = p->th * p->tw;
    if (per_img >= target) {
        p->imgs = 1;
        p->rows = i64max(1, target / p->tw);
    } else {
        p->rows = p->th;
        p->imgs = i64max(1, i64min(g->n, target / per_img));
    }
    p->ngroups = wg_ngroups(p, g->n);
    p->tg = p->imgs * p->rows * p->tw;
    p->ts = rup16(p->tg) + 16; /* (+16: GEMM rows read past the last tile) */
    p->cp = rup16(g->c);
    p->hwc = 0; /* (F(2x2)'s choice; the others always go channels-last) */
}

/* Groups over n images. */
static int64_t wg_ngroups(const wg_plan *p, int64_t n) {
    return p->imgs == 1 ? n * ((p->th + p->rows - 1) / p->rows) : (n + p->imgs - 1) / p->imgs;
}

/* Group gi of n images: images [n0, n0 + ni), tile rows [ty0, ty0 + nty). */
static void wg_group(const wg_plan *p, int64_t n, int64_t gi, int64_t *n0, int64_t *ni,
                     int64_t *ty0, int64_t *nty) {
    if (p->imgs == 1) {
        const int64_t gpi = (p->th + p->rows - 1) / p->rows; /* groups per image */
        *n0 = gi / gpi, *ni = 1, *ty0 = (gi % gpi) * p->rows;
        *nty = i64min(p->rows, p->th - *ty0);
    } else {
        *n0 = gi * p->imgs, *ni = i64min(p->imgs, n - *n0), *ty0 = 0, *nty = p->th;
    }
}

static void wg_make_plan(const rp_conv_geom *g, wg_plan *p) {
    wg_tiling(g, 2, WG_TILES, p);
    p->hwc = p->rows == p->th && p->tw < 16;
}

static size_t wg_shared_floats(const rp_conv_geom *g) {
    /* U [16][C][kp] + offsets [16][C] (int64) */
    return rup((size_t)(16 * g->c * rup16(g->k))) + rup((size_t)(2 * 16 * g->c));
}

static size_t wg_thread_floats(const rp_conv_geom *g) {
    wg_plan p;
    wg_make_plan(g, &p);
    const int64_t tq = (p.tg + CT_PMAX + 15) / 16 * 16;               /* GEMM rows incl. overrun */
    return rup((size_t)(16 * p.cp * p.ts + 64))                       /* V */
           + (p.hwc ? rup((size_t)(p.imgs * g->h * g->w * p.cp)) : 0) /* channels-last images */
           + (size_t)(16 * tq * CT_TW)                                /* M [16][tq][64] */
           + (size_t)(rup16(4 * p.tg) + 16) * CT_TW                   /* outputs [4 tg][64] */
           + rup((size_t)(2 * tq)) + 64;                              /* tile pointers */
}

/* g[q] lane l = tap q of kernel kv*16 + l for input channel ci (zero from K
 * on): the 16 kernels a vector of U holds. */
static inline __attribute__((always_inline)) void wg_taps(const float *w, int64_t c, int64_t k,
                                                          int64_t kv, int64_t ci, __m512 g[9]) {
    const int64_t kk0 = kv * 16, nl = i64min(16, k - kk0);
    const __mmask16 mk = (__mmask16)(nl >= 16 ? 0xFFFF : nl > 0 ? (1u << nl) - 1u : 0u);
    const __m512i idx =
        _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                           _mm512_set1_epi32((int)(c * 9)));
    for (int q = 0; q < 9; q++)
        g[q] = mk ? _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mk, idx,
                                             w + (kk0 * c + ci) * 9 + q, 4)
                  : _mm512_setzero_ps();
}

/* U[xi][c][kk] = (G w[k][c] G^T)[xi] for the 16 kernels of vector kv and
 * input channel ci, packed per 64-channel tile like ct_pack_row (tile at
 * k0: [16][C][tw]). G = [[1,0,0],[1/2,1/2,1/2],[1/2,-1/2,1/2],[0,0,1]]. */
static void wg_pack(const float *w, int64_t c, int64_t k, int64_t kp, int64_t kv, int64_t ci,
                    float *u) {
    const int64_t k0 = kv * 16 / CT_TW * CT_TW, tw = i64min(CT_TW, kp - k0), j = kv * 16 - k0;
    const __m512 half = _mm512_set1_ps(0.5f);
    __m512 g[9], m[4][3];
    wg_taps(w, c, k, kv, ci, g);
    for (int q = 0; q < 3; q++) {
        const __m512 g0 = g[q], g1 = g[3 + q], g2 = g[6 + q];
        m[0][q] = g0, m[3][q] = g2;
        m[1][q] = _mm512_mul_ps(half, _mm512_add_ps(_mm512_add_ps(g0, g1), g2));
        m[2][q] = _mm512_mul_ps(half, _mm512_add_ps(_mm512_sub_ps(g0, g1), g2));
    }
    float *t = u + k0 * 16 * c + ci * tw + j;
    for (int i = 0; i < 4; i++) {
        const __m512 r[4] = {
            m[i][0], _mm512_mul_ps(half, _mm512_add_ps(_mm512_add_ps(m[i][0], m[i][1]), m[i][2])),
            _mm512_mul_ps(half, _mm512_add_ps(_mm512_sub_ps(m[i][0], m[i][1]), m[i][2])), m[i][2]};
        for (int jj = 0; jj < 4; jj++)
            _mm512_store_ps(t + (4 * i + jj) * c * tw, r[jj]);
    }
}

/* r[4i + j] = (B^T d B)[i][j] with B^T = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]],
 * lane by lane. */
static inline __attribute__((always_inline)) void wg_btdb(__m512 d[4][4], __m512 r[16]) {
    __m512 t[4][4];
    for (int j = 0; j < 4; j++) {
        t[0][j] = _mm512_sub_ps(d[0][j], d[2][j]);
        t[1][j] = _mm512_add_ps(d[1][j], d[2][j]);
        t[2][j] = _mm512_sub_ps(d[2][j], d[1][j]);
        t[3][j] = _mm512_sub_ps(d[1][j], d[3][j]);
    }
    for (int i = 0; i < 4; i++) {
        r[4 * i] = _mm512_sub_ps(t[i][0], t[i][2]);
        r[4 * i + 1] = _mm512_add_ps(t[i][1], t[i][2]);
        r[4 * i + 2] = _mm512_sub_ps(t[i][2], t[i][1]);
        r[4 * i + 3] = _mm512_sub_ps(t[i][1], t[i][3]);
    }
}

/* V[xi][ci][q0 + l] for 16 tiles (ty, tx0 + l), l < nl, of one channel plane
 * xc [H][W]: B^T d B over zero-padded 4x4 patches, vectorised across tiles. */
static void wg_input16(const rp_conv_geom *g, const float *xc, int64_t ty, int64_t tx0, int nl,
                       float *v, int64_t cs) {
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
    __m512 d[4][4];
    const int64_t x0 = 2 * tx0 - g->pw;
    for (int i = 0; i < 4; i++) {
        const int64_t yy = 2 * ty - g->ph + i;
        /* four masked loads straight from the row (zero outside the image);
         * no staging buffer, whose misaligned reloads would stall on
         * store forwarding */
        __m512 a[4];
        for (int u = 0; u < 4; u++) {
            const int64_t xa = x0 + (u & 1) * 16 + (u >> 1) * 2;
            const int64_t lo = i64max(0, -xa), hi = i64min(16, g->w - xa);
            a[u] = yy >= 0 && yy < g->h && hi > lo
                       ? _mm512_maskz_loadu_ps((__mmask16)(((1u << hi) - 1u) & ~((1u << lo) - 1u)),
                                               (const float *)((uintptr_t)(xc + yy * g->w) +
                                                               xa * (int64_t)sizeof(float)))
                       : _mm512_setzero_ps();
        }
        d[i][0] = _mm512_permutex2var_ps(a[0], ev, a[1]);
        d[i][1] = _mm512_permutex2var_ps(a[0], od, a[1]);
        d[i][2] = _mm512_permutex2var_ps(a[2], ev, a[3]);
        d[i][3] = _mm512_permutex2var_ps(a[2], od, a[3]);
    }
    __m512 r[16];
    wg_btdb(d, r);
    const __mmask16 mk = (__mmask16)(nl >= 16 ? 0xFFFF : (1u << nl) - 1u);
    for (int xi = 0; xi < 16; xi++)
        _mm512_mask_storeu_ps(v + xi * cs, mk, r[xi]);
}

/* Channels-last variant for small maps (a 4-tile row would fill a quarter of
 * the lanes above): the group's images as xh[im][y][x][cp] (cp = C rounded
 * to 16, zero beyond C; transpose_in), then for every tile and 16 channels the 16 patch
 * vectors are plain loads, and V[xi][q][cp] gets full-width stores. */
static void wg_input_hwc(const rp_conv_geom *g, const float *xh, int64_t y0, int64_t cp, int64_t ty,
                         int64_t tx, float *v, int64_t cs) {
    for (int64_t c0 = 0; c0 < cp; c0 += 16) {
        __m512 d[4][4];
        for (int i = 0; i < 4; i++) {
            const int64_t yy = 2 * ty - g->ph + i;
            for (int j = 0; j < 4; j++) {
                const int64_t xx = 2 * tx - g->pw + j;
                d[i][j] = yy >= 0 && yy < g->h && xx >= 0 && xx < g->w
                              ? _mm512_load_ps(xh + ((yy - y0) * g->w + xx) * cp + c0)
                              : _mm512_setzero_ps();
            }
        }
        __m512 r[16];
        wg_btdb(d, r);
        for (int xi = 0; xi < 16; xi++)
            _mm512_store_ps(v + xi * cs + c0, r[xi]);
    }
}

static void conv_forward_wino(const rp_conv_geom *g, const float *x, const float *w, const float *b,
                              float *y, float *ws, const rp_conv_epilogue *ep) {
    const int64_t hw = g->h * g->w, ohw = g->oh * g->ow, c = g->c;
    wg_plan p;
    wg_make_plan(g, &p);
    float *u = ws;
    int64_t *off = (int64_t *)(void *)(ws + rup((size_t)(16 * c * p.kp)));
    float *thr = ws + wg_shared_floats(g);
    const size_t per = wg_thread_floats(g);
    const int64_t tq = (p.tg + CT_PMAX + 15) / 16 * 16;
    /* V element (xi, c, tile q): [xi][c][q] at (xi*C + c)*ts + q, or
     * channels-last [xi][q][cp] at (xi*ts + q)*cp + c; tile q's pointer is
     * v + q (resp. v + q*cp) and row (xi, c) adds off[xi*C + c] */
    for (int64_t xi = 0; xi < 16; xi++)
        for (int64_t ci = 0; ci < c; ci++)
            off[xi * c + ci] = p.hwc ? xi * p.ts * p.cp + ci : (xi * c + ci) * p.ts;
#pragma omp parallel num_threads(conv_threads())
    {
        float *tb = thr + (size_t)omp_get_thread_num() * per;
        float *v = tb;                                        /* V */
        float *mt = v + rup((size_t)(16 * p.cp * p.ts + 64)); /* [16][tq][64] */
        float *ycl = mt + 16 * tq * CT_TW;                    /* [4 tg][64] */
        float *xh = ycl + (rup16(4 * p.tg) + 16) * CT_TW;     /* [imgs][H][W][cp] (hwc) */
        const float **xb =
            (const float **)(void *)(xh + (p.hwc ? rup((size_t)(p.imgs * hw * p.cp)) : 0));
#pragma omp for schedule(static)
        for (int64_t i = 0; i < p.kp / 16 * c; i++)
            wg_pack(w, c, g->k, p.kp, i / c, i % c, u);
#pragma omp for schedule(dynamic, 1) nowait
        for (int64_t gi = 0; gi < p.ngroups; gi++) {
            int64_t n0, ni, ty0, nty;
            wg_group(&p, g->n, gi, &n0, &ni, &ty0, &nty);
            const int64_t nt = ni * nty * p.tw;
            /* input transform into V */
            if (p.hwc) {
                for (int64_t im = 0; im < ni; im++) {
                    float *xi_h = xh + im * hw * p.cp;
                    transpose_in(x + (n0 + im) * c * hw, c, hw, hw, p.cp, xi_h);
                    for (int64_t ty = 0; ty < p.th; ty++)
                        for (int64_t tx = 0; tx < p.tw; tx++) {
                            const int64_t q = (im * p.th + ty) * p.tw + tx;
                            wg_input_hwc(g, xi_h, 0, p.cp, ty, tx, v + q * p.cp, p.ts * p.cp);
                        }
                }
            } else
                for (int64_t im = 0; im < ni; im++)
                    for (int64_t ci = 0; ci < c; ci++) {
                        const float *xc = x + ((n0 + im) * c + ci) * hw;
                        for (int64_t ty = ty0; ty < ty0 + nty; ty++)
                            for (int64_t tx = 0; tx < p.tw; tx += 16) {
                                const int64_t q = (im * nty + ty - ty0) * p.tw + tx;
                                wg_input16(g, xc, ty, tx, (int)i64min(16, p.tw - tx),
                                           v + ci * p.ts + q, c * p.ts);
                            }
                    }
            for (int64_t q = 0; q < nt + CT_PMAX; q++)
                xb[q] = v + i64min(q, nt - 1) * (p.hwc ? p.cp : 1);
            /* output rows of the group: [2 ty0, min(2 (ty0 + nty), OH)) of each image */
            const int64_t oy0 = 2 * ty0, noy = i64min(2 * (ty0 + nty), g->oh) - oy0;
            const int64_t npos = ni * noy * g->ow;
            for (int64_t k0 = 0; k0 < p.kp; k0 += CT_TW) {
                const int64_t tw = i64min(CT_TW, p.kp - k0);
                const int nvk = (int)(tw / 16);
                for (int64_t xi = 0; xi < 16; xi++) {
                    const float *ux = u + k0 * 16 * c + xi * c * tw;
                    float *mx = mt + xi * tq * CT_TW;
                    ct_positions(nvk, nt, c, ux, tw, off + xi * c, xb, mx, 0);
                }
                /* output transform A^T M A into channels-last rows ycl[pos][64] */
                for (int64_t q = 0; q < nt; q++) {
                    const int64_t im = q / (nty * p.tw), rem = q - im * nty * p.tw;
                    const int64_t ty = ty0 + rem / p.tw, tx = rem % p.tw;
                    for (int vv = 0; vv < nvk; vv++) {
                        __m512 m[16];
                        for (int xi = 0; xi < 16; xi++)
                            m[xi] = _mm512_load_ps(mt + (xi * tq + q) * CT_TW + 16 * vv);
                        __m512 s[2][4];
                        for (int j = 0; j < 4; j++) {
                            s[0][j] = _mm512_add_ps(_mm512_add_ps(m[j], m[4 + j]), m[8 + j]);
                            s[1][j] = _mm512_sub_ps(_mm512_sub_ps(m[4 + j], m[8 + j]), m[12 + j]);
                        }
                        for (int a = 0; a < 2; a++) {
                            const int64_t oy = 2 * ty + a;
                            if (oy >= g->oh) break;
                            const __m512 o[2] = {
                                _mm512_add_ps(_mm512_add_ps(s[a][0], s[a][1]), s[a][2]),
                                _mm512_sub_ps(_mm512_sub_ps(s[a][1], s[a][2]), s[a][3])};
                            for (int bb = 0; bb < 2; bb++) {
                                const int64_t ox = 2 * tx + bb;
                                if (ox >= g->ow) break;
                                const int64_t pos = (im * noy + oy - oy0) * g->ow + ox;
                                _mm512_store_ps(ycl + pos * CT_TW + 16 * vv, o[bb]);
                            }
                        }
                    }
                }
                ct_store(ycl, npos, oy0 * g->ow, ohw, g->k, k0, i64min(tw, g->k - k0),
                         y + n0 * g->k * ohw, b, ep,
                         ep && ep->residual ? ep->residual + n0 * g->k * ohw : NULL);
            }
        }
    }
}

/* ---- Winograd F(4x4, 3x3) forward --------------------------------------------------
 * The same products over 6x6 input patches with 4x4 output tiles (Lavin &
 * Gray, section 4.2; points 0, +-1, +-2): 36 products per 16 outputs, 4x fewer
 * multiplications than the direct form and 1.78x fewer than F(2x2, 3x3), and
 * a transform volume of 2.25 floats per output instead of 4. Its matrices
 * hold 4, 5 and 8 (B^T, A^T) and 1/6, 1/24 (G), so its float32 rounding is
 * larger than F(2x2, 3x3)'s (a few units in 1e-6 of the terms' magnitudes,
 * see test_conv). The input goes channels-last per group (whole images or
 * the rows a band of tile rows reads), so every patch vector is a plain
 * load and every transform is 16 channels wide. */
/* Tiles per group (target): 64 measured up to 10 % faster per layer but even
 * in the models, with 4 MB more peak RSS on the MNIST CNN; 128 slower. */
#define W4_TILES 32

static void w4_make_plan(const rp_conv_geom *g, wg_plan *p) {
    wg_tiling(g, 4, W4_TILES, p);
}

/* Input rows per image a group's channels-last copy holds (m x m tiles). */
static int64_t wg_xrows(const rp_conv_geom *g, const wg_plan *p, int64_t m) {
    return p->rows == p->th ? g->h : i64min(g->h, m * p->rows + 2);
}

/* The input rows that tile rows [ty0, ty0 + nty) of m x m tiles read, of
 * one image xn [C][H][W], channels-last into xh [rows][W][cp]; returns the
 * first row (the tiles' input transforms index xh by y - y0). */
static int64_t wg_rows_hwc(const rp_conv_geom *g, int64_t m, const float *xn, int64_t ty0,
                           int64_t nty, int64_t cp, float *xh) {
    const int64_t hw = g->h * g->w, y0 = i64max(0, m * ty0 - g->ph);
    const int64_t y1 = i64min(g->h, m * (ty0 + nty) + 2 - g->ph);
    transpose_in(xn + y0 * g->w, g->c, hw, (y1 - y0) * g->w, cp, xh);
    return y0;
}

static size_t w4_shared_floats(const rp_conv_geom *g) {
    /* U [36][C][kp] + offsets [36][C] (int64) */
    return rup((size_t)(36 * g->c * rup16(g->k))) + rup((size_t)(2 * 36 * g->c));
}

static size_t w4_thread_floats(const rp_conv_geom *g) {
    wg_plan p;
    w4_make_plan(g, &p);
    const int64_t tq = (p.tg + CT_PMAX + 15) / 16 * 16;
    return rup((size_t)(36 * p.cp * p.ts + 64))                       /* V */
           + rup((size_t)(p.imgs * wg_xrows(g, &p, 4) * g->w * p.cp)) /* channels-last rows */
           + (size_t)(36 * tq * CT_TW)                                /* M [36][tq][64] */
           + (size_t)(rup16(16 * p.tg) + 16) * CT_TW                  /* outputs [16 tg][64] */
           + rup((size_t)(2 * tq)) + 64;                              /* tile pointers */
}

/* o = G a for one 3-vector (G of F(4x4, 3x3): rows [1/4,0,0],
 * -1/6 [1,1,1], -1/6 [1,-1,1], [1/24,1/12,1/6], [1/24,-1/12,1/6], [0,0,1]). */
static inline __attribute__((always_inline)) void w4_g(__m512 a0, __m512 a1, __m512 a2,
                                                       __m512 o[6]) {
    const __m512 s6 = _mm512_set1_ps(-1.0f / 6.0f);
    const __m512 s = _mm512_fmadd_ps(_mm512_set1_ps(1.0f / 24.0f), a0,
                                     _mm512_mul_ps(_mm512_set1_ps(1.0f / 6.0f), a2));
    const __m512 t = _mm512_mul_ps(_mm512_set1_ps(1.0f / 12.0f), a1);
    o[0] = _mm512_mul_ps(_mm512_set1_ps(0.25f), a0);
    o[1] = _mm512_mul_ps(s6, _mm512_add_ps(_mm512_add_ps(a0, a1), a2));
    o[2] = _mm512_mul_ps(s6, _mm512_add_ps(_mm512_sub_ps(a0, a1), a2));
    o[3] = _mm512_add_ps(s, t);
    o[4] = _mm512_sub_ps(s, t);
    o[5] = a2;
}

/* U[xi][c][kk] = (G w[k][c] G^T)[xi] (6x6) for the 16 kernels of vector kv
 * and input channel ci, packed as wg_pack (tile at k0: [36][C][tw]). */
static void w4_pack(const float *w, int64_t c, int64_t k, int64_t kp, int64_t kv, int64_t ci,
                    float *u) {
    const int64_t k0 = kv * 16 / CT_TW * CT_TW, tw = i64min(CT_TW, kp - k0), j = kv * 16 - k0;
    __m512 g[9], m[3][6];
    wg_taps(w, c, k, kv, ci, g);
    for (int q = 0; q < 3; q++)
        w4_g(g[q], g[3 + q], g[6 + q], m[q]); /* m[q][a] = (G g)[a][q] */
    float *t = u + k0 * 36 * c + ci * tw + j;
    for (int a = 0; a < 6; a++) {
        __m512 r[6];
        w4_g(m[0][a], m[1][a], m[2][a], r);
        for (int b = 0; b < 6; b++)
            _mm512_store_ps(t + (6 * a + b) * c * tw, r[b]);
    }
}

/* t = B^T d for one 6-vector (B^T of F(4x4, 3x3)). */
static inline __attribute__((always_inline)) void w4_bt(const __m512 d[6], __m512 t[6]) {
    const __m512 four = _mm512_set1_ps(4.0f), five = _mm512_set1_ps(5.0f);
    const __m512 a = _mm512_fnmadd_ps(four, d[2], d[4]); /* d4 - 4 d2 */
    const __m512 b = _mm512_fnmadd_ps(four, d[1], d[3]); /* d3 - 4 d1 */
    const __m512 c = _mm512_sub_ps(d[4], d[2]);
    const __m512 e = _mm512_add_ps(_mm512_sub_ps(d[3], d[1]), _mm512_sub_ps(d[3], d[1]));
    t[0] = _mm512_fmadd_ps(four, d[0], _mm512_fnmadd_ps(five, d[2], d[4]));
    t[1] = _mm512_add_ps(a, b);
    t[2] = _mm512_sub_ps(a, b);
    t[3] = _mm512_add_ps(c, e);
    t[4] = _mm512_sub_ps(c, e);
    t[5] = _mm512_fmadd_ps(four, d[1], _mm512_fnmadd_ps(five, d[3], d[5]));
}

/* o = A^T m for one 6-vector (A^T of F(4x4, 3x3)). */
static inline __attribute__((always_inline)) void w4_at(const __m512 m[6], __m512 o[4]) {
    const __m512 a = _mm512_add_ps(m[1], m[2]), b = _mm512_sub_ps(m[1], m[2]);
    const __m512 c = _mm512_add_ps(m[3], m[4]), d = _mm512_sub_ps(m[3], m[4]);
    o[0] = _mm512_add_ps(_mm512_add_ps(m[0], a), c);
    o[1] = _mm512_fmadd_ps(_mm512_set1_ps(2.0f), d, b);
    o[2] = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), c, a);
    o[3] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8.0f), d, b), m[5]);
}

/* V[xi][q][c0..] = (B^T d B)[xi] of tile (ty, tx) for every 16 channels,
 * from channels-last rows xh[y - y0][x][cp] (zero outside the image). */
static void w4_input(const rp_conv_geom *g, const float *xh, int64_t y0, int64_t cp, int64_t ty,
                     int64_t tx, float *v, int64_t cs) {
    for (int64_t c0 = 0; c0 < cp; c0 += 16) {
        __m512 e[6][6];
        for (int i = 0; i < 6; i++) {
            const int64_t yy = 4 * ty - g->ph + i;
            __m512 d[6];
            for (int j = 0; j < 6; j++) {
                const int64_t xx = 4 * tx - g->pw + j;
                d[j] = yy >= 0 && yy < g->h && xx >= 0 && xx < g->w
                           ? _mm512_load_ps(xh + ((yy - y0) * g->w + xx) * cp + c0)
                           : _mm512_setzero_ps();
            }
            w4_bt(d, e[i]); /* e[i][j] = (d B)[i][j] */
        }
        for (int j = 0; j < 6; j++) {
            __m512 col[6], r[6];
            for (int i = 0; i < 6; i++)
                col[i] = e[i][j];
            w4_bt(col, r);
            for (int i = 0; i < 6; i++)
                _mm512_store_ps(v + (i * 6 + j) * cs + c0, r[i]);
        }
    }
}

static void conv_forward_w4(const rp_conv_geom *g, const float *x, const float *w, const float *b,
                            float *y, float *ws, const rp_conv_epilogue *ep) {
    const int64_t hw = g->h * g->w, ohw = g->oh * g->ow, c = g->c;
    wg_plan p;
    w4_make_plan(g, &p);
    const int64_t xr = wg_xrows(g, &p, 4);
    float *u = ws;
    int64_t *off = (int64_t *)(void *)(ws + rup((size_t)(36 * c * p.kp)));
    float *thr = ws + w4_shared_floats(g);
    const size_t per = w4_thread_floats(g);
    const int64_t tq = (p.tg + CT_PMAX + 15) / 16 * 16;
    /* V element (xi, c, tile q) at (xi*ts + q)*cp + c: tile q's pointer is
     * v + q*cp and row (xi, c) adds off[xi*C + c] */
    for (int64_t xi = 0; xi < 36; xi++)
        for (int64_t ci = 0; ci < c; ci++)
            off[xi * c + ci] = xi * p.ts * p.cp + ci;
#pragma omp parallel num_threads(conv_threads())
    {
        float *tb = thr + (size_t)omp_get_thread_num() * per;
        float *v = tb;                                             /* V [36][ts][cp] */
        float *xh = v + rup((size_t)(36 * p.cp * p.ts + 64));      /* [imgs][xr][W][cp] */
        float *mt = xh + rup((size_t)(p.imgs * xr * g->w * p.cp)); /* [36][tq][64] */
        float *ycl = mt + 36 * tq * CT_TW;                         /* [16 tg][64] */
        const float **xb = (const float **)(void *)(ycl + (rup16(16 * p.tg) + 16) * CT_TW);
#pragma omp for schedule(static)
        for (int64_t i = 0; i < p.kp / 16 * c; i++)
            w4_pack(w, c, g->k, p.kp, i / c, i % c, u);
#pragma omp for schedule(dynamic, 1) nowait
        for (int64_t gi = 0; gi < p.ngroups; gi++) {
            int64_t n0, ni, ty0, nty;
            wg_group(&p, g->n, gi, &n0, &ni, &ty0, &nty);
            const int64_t nt = ni * nty * p.tw;
            /* the input rows the group reads, channels-last, then V */
            for (int64_t im = 0; im < ni; im++) {
                float *xi_h = xh + im * xr * g->w * p.cp;
                const int64_t y0 = wg_rows_hwc(g, 4, x + (n0 + im) * c * hw, ty0, nty, p.cp, xi_h);
                for (int64_t ty = ty0; ty < ty0 + nty; ty++)
                    for (int64_t tx = 0; tx < p.tw; tx++) {
                        const int64_t q = (im * nty + ty - ty0) * p.tw + tx;
                        w4_input(g, xi_h, y0, p.cp, ty, tx, v + q * p.cp, p.ts * p.cp);
                    }
            }
            for (int64_t q = 0; q < nt + CT_PMAX; q++)
                xb[q] = v + i64min(q, nt - 1) * p.cp;
            /* output rows of the group: [4 ty0, min(4 (ty0 + nty), OH)) of each image */
            const int64_t oy0 = 4 * ty0, noy = i64min(4 * (ty0 + nty), g->oh) - oy0;
            const int64_t npos = ni * noy * g->ow;
            for (int64_t k0 = 0; k0 < p.kp; k0 += CT_TW) {
                const int64_t tw = i64min(CT_TW, p.kp - k0);
                const int nvk = (int)(tw / 16);
                for (int64_t xi = 0; xi < 36; xi++)
                    ct_positions(nvk, nt, c, u + k0 * 36 * c + xi * c * tw, tw, off + xi * c, xb,
                                 mt + xi * tq * CT_TW, 0);
                /* output transform A^T M A into channels-last rows ycl[pos][64] */
                for (int64_t q = 0; q < nt; q++) {
                    const int64_t im = q / (nty * p.tw), rem = q - im * nty * p.tw;
                    const int64_t ty = ty0 + rem / p.tw, tx = rem % p.tw;
                    for (int vv = 0; vv < nvk; vv++) {
                        __m512 s[6][4];
                        for (int i = 0; i < 6; i++) {
                            __m512 m[6];
                            for (int j = 0; j < 6; j++)
                                m[j] =
                                    _mm512_load_ps(mt + ((i * 6 + j) * tq + q) * CT_TW + 16 * vv);
                            w4_at(m, s[i]); /* s[i][b] = (M A)[i][b] */
                        }
                        for (int bb = 0; bb < 4; bb++) {
                            const int64_t ox = 4 * tx + bb;
                            if (ox >= g->ow) break;
                            __m512 col[6], o[4];
                            for (int i = 0; i < 6; i++)
                                col[i] = s[i][bb];
                            w4_at(col, o);
                            for (int a = 0; a < 4; a++) {
                                const int64_t oy = 4 * ty + a;
                                if (oy >= g->oh) break;
                                const int64_t pos = (im * noy + oy - oy0) * g->ow + ox;
                                _mm512_store_ps(ycl + pos * CT_TW + 16 * vv, o[a]);
                            }
                        }
                    }
                }
                ct_store(ycl, npos, oy0 * g->ow, ohw, g->k, k0, i64min(tw, g->k - k0),
                         y + n0 * g->k * ohw, b, ep,
                         ep && ep->residual ? ep->residual + n0 * g->k * ohw : NULL);
            }
        }
    }
}

/* ---- Winograd weight gradient F(2x2, 3x3) ------------------------------------------
 * The weight gradient dw[k][c] = sum over images and output positions of
 * x patch * dy is the same bilinear form read the other way (Lavin & Gray,
 * section 4; the identity sum_x A^T[i][x] G[x][j] B^T[x][l] = [l == i + j]
 * of F(2x2, 3x3)): over 2x2 tiles of dy and the 4x4 input patches under
 * them, dw = G^T [ sum_tiles (A dy A^T) .* (B^T d B) ] G. So 16 products
 * M[xi][k][c] = sum_t Udy[xi][k][t] V[xi][t][c] reduce over the tiles
 * (2.25x fewer multiplications than the direct form), on the channel-tiled
 * kernel: output channels k are the broadcast positions, input channels
 * the vectors, tiles the reduction rows. V is the forward's input transform
 * (channels-last per chunk); dy goes channels-last too, through A (entries
 * 0, +-1) 16 output channels at a time. The batch is cut into the direct
 * weight gradient's groups (wg_groups: fixed by the shapes), each summed
 * into its own partial M, and the partials are added in group order before
 * G^T . G: the same bytes on any thread count. */
#define WW_TILES 64 /* tiles per chunk (target) */

typedef struct ww_plan {
    wg_plan t;     /* tiles and chunks (wg_tiling; groups below) */
    int64_t nct;   /* 64-channel tiles of cp */
    int64_t xr;    /* input rows per image a chunk holds channels-last */
    int64_t G;     /* groups */
    int64_t mrows; /* rows of a partial's [kp + overrun][64] tiles */
} ww_plan;

static void ww_make_plan(const rp_conv_geom *g, ww_plan *p) {
    wg_tiling(g, 2, WW_TILES, &p->t);
    p->nct = (p->t.cp + CT_TW - 1) / CT_TW;
    p->xr = wg_xrows(g, &p->t, 2);
    p->G = wg_groups(g);
    p->mrows = p->t.kp + CT_PMAX;
}

static size_t ww_part_floats(const ww_plan *p) {
    return (size_t)(16 * p->nct * p->mrows * CT_TW);
}

static size_t ww_shared_floats(const rp_conv_geom *g) {
    ww_plan p;
    ww_make_plan(g, &p);
    /* partials, then the reduction offsets (int64) */
    return (size_t)p.G * ww_part_floats(&p) + rup((size_t)(2 * p.t.ts));
}

static size_t ww_thread_floats(const rp_conv_geom *g) {
    ww_plan p;
    ww_make_plan(g, &p);
    return rup((size_t)(16 * p.t.ts * p.t.cp + 64))         /* V [16][ts][cp] */
           + rup((size_t)(p.t.imgs * p.xr * g->w * p.t.cp)) /* x rows */
           + rup((size_t)(16 * p.t.ts * p.t.kp + 64))       /* Udy [16][ts][kp] */
           + rup((size_t)(p.t.imgs * i64min(g->oh, 2 * p.t.rows) * g->ow * p.t.kp)) /* dy rows */
           + rup((size_t)(2 * (p.t.kp + CT_PMAX))) + 64; /* Udy column pointers */
}

/* Udy[xi][q][k0..] = (A d A^T)[xi] of tile (ty, tx) for every 16 output
 * channels, from channels-last dy rows dh[oy - oy0][ox][kp] (zero beyond
 * OH x OW); A^T = [[1,1,1,0],[0,1,-1,-1]]. */
static void ww_dy(const rp_conv_geom *g, const float *dh, int64_t oy0, int64_t kp, int64_t ty,
                  int64_t tx, float *u, int64_t cs) {
    for (int64_t k0 = 0; k0 < kp; k0 += 16) {
        __m512 d[2][2];
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++) {
                const int64_t oy = 2 * ty + a, ox = 2 * tx + b;
                d[a][b] = oy < g->oh && ox < g->ow
                              ? _mm512_load_ps(dh + ((oy - oy0) * g->ow + ox) * kp + k0)
                              : _mm512_setzero_ps();
            }
        __m512 t[4][2];
        for (int j = 0; j < 2; j++) {
            t[0][j] = d[0][j];
            t[1][j] = _mm512_add_ps(d[0][j], d[1][j]);
            t[2][j] = _mm512_sub_ps(d[0][j], d[1][j]);
            t[3][j] = _mm512_sub_ps(_mm512_setzero_ps(), d[1][j]);
        }
        for (int i = 0; i < 4; i++) {
            const __m512 r[4] = {t[i][0], _mm512_add_ps(t[i][0], t[i][1]),
                                 _mm512_sub_ps(t[i][0], t[i][1]),
                                 _mm512_sub_ps(_mm512_setzero_ps(), t[i][1])};
            for (int j = 0; j < 4; j++)
                _mm512_store_ps(u + (4 * i + j) * cs + k0, r[j]);
        }
    }
}

/* dw[k][c0 + l][3x3] += (G^T M G)[l] for the 16 channels of vector m[xi]
 * (lanes l < nc stored); G^T = [[1,1/2,1/2,0],[0,1/2,-1/2,0],[0,1/2,1/2,1]]. */
static void ww_store(const __m512 m[16], float *d, int64_t nc) {
    const __m512 half = _mm512_set1_ps(0.5f);
    __m512 s[3][4], r[9];
    for (int j = 0; j < 4; j++) { /* G^T over the rows */
        const __m512 a = _mm512_add_ps(m[4 + j], m[8 + j]);
        s[0][j] = _mm512_add_ps(m[j], _mm512_mul_ps(half, a));
        s[1][j] = _mm512_mul_ps(half, _mm512_sub_ps(m[4 + j], m[8 + j]));
        s[2][j] = _mm512_add_ps(_mm512_mul_ps(half, a), m[12 + j]);
    }
    for (int i = 0; i < 3; i++) { /* and over the columns */
        const __m512 a = _mm512_add_ps(s[i][1], s[i][2]);
        r[3 * i] = _mm512_add_ps(s[i][0], _mm512_mul_ps(half, a));
        r[3 * i + 1] = _mm512_mul_ps(half, _mm512_sub_ps(s[i][1], s[i][2]));
        r[3 * i + 2] = _mm512_add_ps(_mm512_mul_ps(half, a), s[i][3]);
    }
    /* lanes are channels: dw[k][c0 + l][q] = r[q] lane l, 16 x 9 contiguous floats */
    float tmp[16 * 9] __attribute__((aligned(64))), lanes[9][16] __attribute__((aligned(64)));
    for (int q = 0; q < 9; q++)
        _mm512_store_ps(lanes[q], r[q]);
    for (int l = 0; l < 16; l++)
        for (int q = 0; q < 9; q++)
            tmp[l * 9 + q] = lanes[q][l];
    const int64_t nf = 9 * nc;
    for (int64_t f = 0; f < nf; f += 16) {
        const __mmask16 fm = (__mmask16)(nf - f >= 16 ? 0xFFFF : (1u << (nf - f)) - 1u);
        _mm512_mask_storeu_ps(d + f, fm,
                              _mm512_add_ps(_mm512_maskz_loadu_ps(fm, d + f), _mm512_load_ps(tmp + f)));
    }
}

/* db[k] += sum of dy's plane k over the batch. */
static void ww_bias(const rp_conv_geom *g, const float *dy, int64_t k, float *db) {
    const int64_t ohw = g->oh * g->ow;
    float s = 0.0f;
    for (int64_t n = 0; n < g->n; n++) {
        s += plane_sum(dy + (n * g->k + k) * ohw, ohw);
    }
    db[k] += s;
}

/* dw += G^T M G per (k, c) from the partials summed in group order, db +=
 * sum dy; G^T = [[1,1/2,1/2,0],[0,1/2,-1/2,0],[0,1/2,1/2,1]]. */
static void ww_finish(const rp_conv_geom *g, const ww_plan *p, const float *parts, const float *dy,
                      float *dw, float *db) {
    const size_t pf = ww_part_floats(p);
#pragma omp parallel for num_threads(conv_threads()) schedule(static)
    for (int64_t k = 0; k < g->k; k++) {
        for (int64_t c0 = 0; c0 < g->c; c0 += 16) {
            const int64_t ct = c0 / CT_TW, cl = c0 % CT_TW;
            __m512 m[16];
            for (int xi = 0; xi < 16; xi++) {
                const size_t o =
                    ((size_t)(xi * p->nct + ct) * (size_t)p->mrows + (size_t)k) * CT_TW +
                    (size_t)cl;
                m[xi] = _mm512_load_ps(parts + o);
                for (int64_t gi = 1; gi < p->G; gi++)
                    m[xi] = _mm512_add_ps(m[xi], _mm512_load_ps(parts + (size_t)gi * pf + o));
            }
            ww_store(m, dw + (k * g->c + c0) * 9, i64min(16, g->c - c0));
        }
        if (db) ww_bias(g, dy, k, db);
    }
}

static void conv_wgrad_wino(const rp_conv_geom *g, const float *x, const float *dy, float *dw,
                            float *db, float *ws) {
    const int64_t hw = g->h * g->w, ohw = g->oh * g->ow, c = g->c;
    ww_plan p;
    ww_make_plan(g, &p);
    const size_t pf = ww_part_floats(&p);
    float *parts = ws;
    int64_t *off = (int64_t *)(void *)(ws + (size_t)p.G * pf); /* tile r at r*kp */
    float *thr = ws + ww_shared_floats(g);
    const size_t per = ww_thread_floats(g);
    for (int64_t q = 0; q < p.t.ts; q++)
        off[q] = q * p.t.kp;
#pragma omp parallel num_threads(conv_threads())
    {
        float *tb = thr + (size_t)omp_get_thread_num() * per;
        float *v = tb;                                                   /* V [16][ts][cp] */
        float *xh = v + rup((size_t)(16 * p.t.ts * p.t.cp + 64));        /* [imgs][xr][W][cp] */
        float *ud = xh + rup((size_t)(p.t.imgs * p.xr * g->w * p.t.cp)); /* Udy [16][ts][kp] */
        float *dh = ud + rup((size_t)(16 * p.t.ts * p.t.kp + 64));       /* [imgs][dr][OW][kp] */
        const int64_t dr = i64min(g->oh, 2 * p.t.rows);
        const float **xb =
            (const float **)(void *)(dh + rup((size_t)(p.t.imgs * dr * g->ow * p.t.kp)));
#pragma omp for schedule(dynamic, 1)
        for (int64_t gi = 0; gi < p.G; gi++) {
            float *part = parts + (size_t)gi * pf;
            memset(part, 0, sizeof(float) * pf);
            const int64_t na = g->n * gi / p.G, nb = g->n * (gi + 1) / p.G;
            /* chunks of the group's images: (image, band of tile rows) or whole images */
            const int64_t nchunks = wg_ngroups(&p.t, nb - na);
            for (int64_t ch = 0; ch < nchunks; ch++) {
                int64_t n0, ni, ty0, nty;
                wg_group(&p.t, nb - na, ch, &n0, &ni, &ty0, &nty);
                n0 += na;
                const int64_t nt = ni * nty * p.t.tw;
                for (int64_t im = 0; im < ni; im++) {
                    float *xi_h = xh + im * p.xr * g->w * p.t.cp;
                    const int64_t y0 =
                        wg_rows_hwc(g, 2, x + (n0 + im) * c * hw, ty0, nty, p.t.cp, xi_h);
                    /* dy rows [2 ty0, 2 (ty0 + nty)) of the image, channels-last */
                    const int64_t oy0 = 2 * ty0, oy1 = i64min(g->oh, 2 * (ty0 + nty));
                    float *dh_i = dh + im * dr * g->ow * p.t.kp;
                    transpose_in(dy + (n0 + im) * g->k * ohw + oy0 * g->ow, g->k, ohw,
                                 (oy1 - oy0) * g->ow, p.t.kp, dh_i);
                    for (int64_t ty = ty0; ty < ty0 + nty; ty++) {
                        const int64_t q0 = (im * nty + ty - ty0) * p.t.tw;
                        for (int64_t tx = 0; tx < p.t.tw; tx++) {
                            wg_input_hwc(g, xi_h, y0, p.t.cp, ty, tx, v + (q0 + tx) * p.t.cp,
                                         p.t.ts * p.t.cp);
                            ww_dy(g, dh_i, oy0, p.t.kp, ty, tx, ud + (q0 + tx) * p.t.kp,
                                  p.t.ts * p.t.kp);
                        }
                    }
                }
                for (int64_t xi = 0; xi < 16; xi++) {
                    for (int64_t k = 0; k < p.t.kp + CT_PMAX; k++)
                        xb[k] = ud + xi * p.t.ts * p.t.kp + i64min(k, g->k - 1);
                    for (int64_t ct = 0; ct < p.nct; ct++) {
                        const int64_t cw = i64min(CT_TW, p.t.cp - ct * CT_TW);
                        ct_positions((int)(cw / 16), g->k, nt,
                                     v + xi * p.t.ts * p.t.cp + ct * CT_TW, p.t.cp, off, xb,
                                     part + (size_t)((xi * p.nct + ct) * p.mrows) * CT_TW, 1);
                    }
                }
            }
        }
    }
    ww_finish(g, &p, parts, dy, dw, db);
}

/* ---- Winograd weight gradient F(2x2, 3x3) for wide layers ------------------------
 * The same sums as conv_wgrad_wino, ordered for layers whose transformed
 * gradient (16 x K x C) is too large to keep a copy per image group (ResNet's
 * 512 -> 512 at 7x7: 16.8 MB each). The threads split the input channels in
 * units of WX_CW instead; a unit holds M for its channels only
 * ([16][K][WX_CW]) and sums every tile of the batch into it in tile order,
 * so the bytes do not depend on the thread count either. Per product xi it
 * transforms just what xi needs (B^T and A rows have two non-zeros: one
 * signed sum of four patch values each) from channels-last copies of x and
 * dy made once for the batch, then the reduction over all tiles is one
 * channel-tiled kernel call per 64 channels (K the broadcast positions). */
#define WX_CW 128 /* input channels per unit */

typedef struct wx_plan {
    int64_t cp, kp;   /* C, K rounded up to 16 */
    int64_t th, tw;   /* 2x2 tiles per image */
    int64_t nt;       /* tiles in the batch */
    int64_t cw;       /* channels per unit (a multiple of 16) */
    int64_t units;    /* units over cp */
    int64_t mrows;    /* rows of a unit's M tiles: kp + kernel overrun */
} wx_plan;

static void wx_make_plan(const rp_conv_geom *g, wx_plan *p) {
    p->cp = rup16(g->c), p->kp = rup16(g->k);
    p->th = (g->oh + 1) / 2, p->tw = (g->ow + 1) / 2;
    p->nt = g->n * p->th * p->tw;
    p->cw = i64min(WX_CW, p->cp);
    p->units = (p->cp + p->cw - 1) / p->cw;
    p->mrows = p->kp + CT_PMAX;
}

static size_t wx_shared_floats(const rp_conv_geom *g) {
    wx_plan p;
    wx_make_plan(g, &p);
    /* x and dy channels-last, then the tile offsets (int64) */
    return rup((size_t)(g->n * g->h * g->w * p.cp)) + rup((size_t)(g->n * g->oh * g->ow * p.kp)) +
           rup((size_t)(2 * p.nt));
}

static size_t wx_thread_floats(const rp_conv_geom *g) {
    wx_plan p;
    wx_make_plan(g, &p);
    return rup((size_t)(p.nt * p.cw + 64))                                    /* V[xi] [nt][cw] */
           + rup((size_t)(p.nt * p.kp + 64))                                  /* Udy[xi] [nt][kp] */
           + (size_t)(16 * ((p.cw + CT_TW - 1) / CT_TW) * p.mrows * CT_TW)    /* M */
           + rup((size_t)(2 * p.mrows)) + 64;                                 /* M row pointers */
}

/* Rows of B^T (F(2x2, 3x3)) and of A as (index, sign) pairs; sign 0: none. */
static const int wx_bt[4][2][2] = {{{0, 1}, {2, -1}}, {{1, 1}, {2, 1}}, {{1, -1}, {2, 1}},
                                   {{1, 1}, {3, -1}}};
static const int wx_a[4][2][2] = {{{0, 1}, {0, 0}}, {{0, 1}, {1, 1}}, {{0, 1}, {1, -1}},
                                  {{1, -1}, {0, 0}}};

/* out[t][..nv*16) = (R d R'^T)[a][b] of every tile t for the rows a of R and
 * b of R' (pairs above), patches read channels-last from src [N][H][W][ld]
 * at rows s*ty + oy0 + i, columns s*tx + ox0 + j (zero outside H x W). */
static void wx_transform(const int (*ra)[2], const int (*rb)[2], const float *src, int64_t n,
                         int64_t h, int64_t w, int64_t ld, int64_t c0, int64_t nv, int64_t th,
                         int64_t tw, int64_t s, int64_t oy0, int64_t ox0, float *out, int64_t ldo) {
    int64_t t = 0;
    for (int64_t im = 0; im < n; im++)
        for (int64_t ty = 0; ty < th; ty++)
            for (int64_t tx = 0; tx < tw; tx++, t++)
                for (int64_t v = 0; v < nv; v++) {
                    __m512 acc = _mm512_setzero_ps();
                    for (int u = 0; u < 2 && ra[u][1]; u++) {
                        const int64_t y = s * ty + oy0 + ra[u][0];
                        __m512 r = _mm512_setzero_ps();
                        for (int e = 0; e < 2 && rb[e][1]; e++) {
                            const int64_t x = s * tx + ox0 + rb[e][0];
                            if (y < 0 || y >= h || x < 0 || x >= w) continue;
                            const __m512 d =
                                _mm512_load_ps(src + ((im * h + y) * w + x) * ld + c0 + 16 * v);
                            r = rb[e][1] > 0 ? _mm512_add_ps(r, d) : _mm512_sub_ps(r, d);
                        }
                        acc = ra[u][1] > 0 ? _mm512_add_ps(acc, r) : _mm512_sub_ps(acc, r);
                    }
                    _mm512_store_ps(out + t * ldo + 16 * v, acc);
                }
}

static void conv_wgrad_wx(const rp_conv_geom *g, const float *x, const float *dy, float *dw,
                          float *db, float *ws) {
    wx_plan p;
    wx_make_plan(g, &p);
    const int64_t hw = g->h * g->w, ohw = g->oh * g->ow;
    float *xh = ws;                                                  /* [N][H][W][cp] */
    float *dh = xh + rup((size_t)(g->n * hw * p.cp));                /* [N][OH][OW][kp] */
    int64_t *off = (int64_t *)(void *)(dh + rup((size_t)(g->n * ohw * p.kp))); /* tile t at t*kp */
    float *thr = ws + wx_shared_floats(g);
    const size_t per = wx_thread_floats(g);
    const int64_t nct = (p.cw + CT_TW - 1) / CT_TW;
    for (int64_t t = 0; t < p.nt; t++)
        off[t] = t * p.kp;
#pragma omp parallel num_threads(conv_threads())
    {
        float *tb = thr + (size_t)omp_get_thread_num() * per;
        float *vx = tb;                                          /* [nt][cw] */
        float *ux = vx + rup((size_t)(p.nt * p.cw + 64));        /* [nt][kp] */
        float *mm = ux + rup((size_t)(p.nt * p.kp + 64));        /* [16][nct][mrows][64] */
        const float **xb = (const float **)(void *)(mm + 16 * nct * p.mrows * CT_TW);
#pragma omp for schedule(static)
        for (int64_t n = 0; n < g->n; n++) {
            transpose_in(x + n * g->c * hw, g->c, hw, hw, p.cp, xh + n * hw * p.cp);
            transpose_in(dy + n * g->k * ohw, g->k, ohw, ohw, p.kp, dh + n * ohw * p.kp);
        }
        /* (the implied barrier: both copies complete) */
#pragma omp for schedule(dynamic, 1) nowait
        for (int64_t u = 0; u < p.units; u++) {
            const int64_t c0 = u * p.cw, cw = i64min(p.cw, p.cp - c0);
            for (int64_t xi = 0; xi < 16; xi++) {
                const int a = (int)(xi / 4), b = (int)(xi % 4);
                wx_transform(&wx_bt[a][0], &wx_bt[b][0], xh, g->n, g->h, g->w, p.cp, c0, cw / 16,
                             p.th, p.tw, 2, -g->ph, -g->pw, vx, p.cw);
                wx_transform(&wx_a[a][0], &wx_a[b][0], dh, g->n, g->oh, g->ow, p.kp, 0, p.kp / 16,
                             p.th, p.tw, 2, 0, 0, ux, p.kp);
                for (int64_t k = 0; k < p.mrows; k++)
                    xb[k] = ux + i64min(k, g->k - 1);
                for (int64_t ct = 0; ct < nct; ct++) {
                    const int64_t w64 = i64min(CT_TW, cw - ct * CT_TW);
                    ct_positions((int)(w64 / 16), g->k, p.nt, vx + ct * CT_TW, p.cw, off, xb,
                                 mm + (xi * nct + ct) * p.mrows * CT_TW, 0);
                }
            }
            for (int64_t k = 0; k < g->k; k++)
                for (int64_t cl = 0; cl < cw && c0 + cl < g->c; cl += 16) {
                    __m512 m[16];
                    for (int xi = 0; xi < 16; xi++)
                        m[xi] = _mm512_load_ps(
                            mm + ((xi * nct + cl / CT_TW) * p.mrows + k) * CT_TW + cl % CT_TW);
                    ww_store(m, dw + (k * g->c + c0 + cl) * 9, i64min(16, g->c - c0 - cl));
                }
        }
        if (db) {
#pragma omp for schedule(static)
            for (int64_t k = 0; k < g->k; k++)
                ww_bias(g, dy, k, db);
        }
    }
}

static int forced_forward = RP_CONV_AUTO;

void rp_conv_force_forward(int algo) {
    forced_forward = algo;
}

static int use_ct(const rp_conv_geom *g) {
    if (forced_forward == RP_CONV_PLANES) return 0;
    if (forced_forward == RP_CONV_CHANNEL_TILES) return 1;
    return ct_wanted(g);
}

/* The Winograd variant (4: F(4x4, 3x3), 2: F(2x2, 3x3), 0: none) where it
 * fits. Forced: wherever it fits; else only when the caller allows it (eval
 * forwards; training where the model allows it). Measured (bench_conv,
 * forward ms, 2 threads, two runs):
 *   - F(4x4) on maps of 8x8 and more with 16+ channels up to 128 -> 128:
 *     ResNet-18's 56x56x64 22.3 (F(2x2)) -> 17.1-17.3 and 28x28x128
 *     15.0-15.7 -> 10.8-10.9; ResNet-20's 32x32x16 2.44-2.57 (direct) ->
 *     2.06-2.16, 16x16x32 1.74-1.82 -> 1.18-1.24 and 8x8x64 1.36 ->
 *     1.03-1.10; the CIFAR CNN's 32x32x32 7.7-7.8 -> 5.1-5.4.
 *   - F(2x2) on wider layers: F(4x4) measured even at 14x14x256 (its 4x4
 *     tiles cover 16x16) and 7x7x512, with 2.25x the transformed weights.
 *     Against the channel-tiled path: +35-60 % on 14x14x256, +10-40 % on
 *     28x28x128, +5-10 % at 7x7x512 (channels-last input transform); even
 *     or slower with 16 output channels and on 32x32x32 (tile-row
 *     transform). */
static int use_wino(const rp_conv_geom *g, const rp_conv_epilogue *ep) {
    if (!wino_fits(g)) return 0;
    if (forced_forward == RP_CONV_WINOGRAD) return 2;
    if (forced_forward == RP_CONV_WINOGRAD4) return 4;
    if (forced_forward != RP_CONV_AUTO || !ep || !ep->winograd) return 0;
    if (g->k >= 16 && g->c >= 16 && g->c * g->k <= 128 * 128 && g->oh >= 8 && g->ow >= 8) return 4;
    if (g->k < 32 || g->c < 32 || g->c * g->k > 512 * 512) return 0;
    wg_plan p;
    wg_make_plan(g, &p);
    return p.hwc || (g->c >= 64 && g->ow >= 14) ? 2 : 0;
}

/* Winograd forward of the variant use_wino chose (2 or 4). */
static void conv_forward_wg(int m, const rp_conv_geom *g, const float *x, const float *w,
                            const float *b, float *y, float *ws, const rp_conv_epilogue *ep) {
    if (m == 4)
        conv_forward_w4(g, x, w, b, y, ws, ep);
    else
        conv_forward_wino(g, x, w, b, y, ws, ep);
}

/* Workspace of either Winograd variant (the larger). */
static size_t wg_floats(const rp_conv_geom *g) {
    const size_t a = wg_shared_floats(g) + (size_t)ws_threads() * wg_thread_floats(g);
    const size_t b = w4_shared_floats(g) + (size_t)ws_threads() * w4_thread_floats(g);
    return a > b ? a : b;
}

void rp_conv2d_forward_ep(const rp_conv_geom *g, const float *x, const float *w, const float *b,
                          float *y, float *ws, const rp_conv_epilogue *ep) {
    rp_conv_geom gp;
    if (forced_forward == RP_CONV_AUTO && strided_pointwise(g, &gp)) {
        subsample(g, x, ws);
        rp_conv2d_forward_ep(&gp, ws, w, b, y, ws + sub_floats(g), ep);
        return;
    }
    const int wm = use_wino(g, ep);
    if (wm) {
        conv_forward_wg(wm, g, x, w, b, y, ws, ep);
        return;
    }
    if (use_ct(g)) {
        conv_forward_ct(g, x, w, b, y, ws, ep);
        return;
    }
    conv_forward_planes(g, x, w, b, y, ws, ep);
}

void rp_conv2d_forward(const rp_conv_geom *g, const float *x, const float *w, const float *b,
                       float *y, float *ws) {
    rp_conv2d_forward_ep(g, x, w, b, y, ws, NULL);
}

/* Lanes l < 16 with lo <= l0 + l < hi. */
static inline __mmask16 lane_range(int64_t l0, int64_t lo, int64_t hi) {
    const int64_t a = i64max(0, lo - l0), b = i64min(16, hi - l0);
    return b <= a ? (__mmask16)0 : (__mmask16)(((1u << b) - 1u) & ~((1u << a) - 1u));
}

/* A row dst[0, w) of width-interleaved phases: dst[ix] = ev[X] for
 * ix + pw = 2 (x0e + X), = od[X] for ix + pw = 2 (x0o + X) + 1. Masked loads
 * straight from the blocks and masked stores into dx (no staging rows,
 * whose misaligned reloads would stall on store forwarding). */
static void interleave2(float *dst, int64_t w, int64_t pw, const float *ev, int64_t x0e,
                        int64_t nxe, const float *od, int64_t x0o, int64_t nxo) {
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi =
        _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    /* vector q covers X' = q.., i.e. v = ix + pw in [2q, 2q + 32) */
    for (int64_t q = 0; 2 * q < pw + w; q += 16) {
        const __m512 a = _mm512_maskz_loadu_ps(
            lane_range(q, x0e, x0e + nxe),
            (const float *)((uintptr_t)ev + (q - x0e) * (int64_t)sizeof(float)));
        const __m512 b = _mm512_maskz_loadu_ps(
            lane_range(q, x0o, x0o + nxo),
            (const float *)((uintptr_t)od + (q - x0o) * (int64_t)sizeof(float)));
        const int64_t i0 = 2 * q - pw; /* dst index of lane 0 */
        _mm512_mask_storeu_ps((float *)((uintptr_t)dst + i0 * (int64_t)sizeof(float)),
                              lane_range(i0, 0, w), _mm512_permutex2var_ps(a, lo, b));
        _mm512_mask_storeu_ps((float *)((uintptr_t)dst + (i0 + 16) * (int64_t)sizeof(float)),
                              lane_range(i0 + 16, 0, w), _mm512_permutex2var_ps(a, hi, b));
    }
}

/* One image of the phase path (see phase_of): dy [K][OH][OW] into the
 * plane (borders already zero), then per phase the stride-1 GEMM into its
 * block [C][ny][nx] of blk, and the blocks scattered into dx [C][H][W]
 * (stride 2 in width: rows of the two column phases interleaved with
 * vector permutes). ap / off: the phases' packed weights and offsets, one
 * block after the other. */
static void phase_backward(const rp_conv_geom *g, const float *dyn, const float *ap,
                           const int64_t *off, int64_t hq, int64_t wq, float *pad, float *blk,
                           float *dxn) {
    const int64_t ty = (g->kh + g->sh - 1) / g->sh, tx = (g->kw + g->sw - 1) / g->sw;
    const int64_t hw = g->h * g->w;
    for (int64_t k = 0; k < g->k; k++)
        for (int64_t oy = 0; oy < g->oh; oy++)
            copy_row(pad + (k * hq + oy + ty - 1) * wq + tx - 1, dyn + (k * g->oh + oy) * g->ow,
                     g->ow);
    /* positions no tap reaches (kernel narrower than the stride) stay zero */
    const int holes = g->kh < g->sh || g->kw < g->sw;
    if (holes) memset(dxn, 0, sizeof(float) * (size_t)(g->c * hw));
    /* stride 2 in width, both column phases non-empty: interleaved rows */
    const int il = g->sw == 2 && !holes && phase_of(0, g->kw, 2, g->pw, g->w).ny > 0 &&
                   phase_of(1, g->kw, 2, g->pw, g->w).ny > 0;
    float *bp = blk;
    for (int64_t ry = 0; ry < g->sh; ry++) {
        const phase_dim py = phase_of(ry, g->kh, g->sh, g->ph, g->h);
        float *rowblk[2] = {NULL, NULL}; /* stride-2 width: both column phases' blocks */
        phase_dim rowpx[2];
        for (int64_t rx = 0; rx < g->sw; rx++) {
            const phase_dim px = phase_of(rx, g->kw, g->sw, g->pw, g->w);
            const int64_t kd = g->k * py.t * px.t, nb = py.ny * px.ny;
            const float *pa = ap;
            const int64_t *po = off;
            ap += (g->c + MR - 1) / MR * MR * kd;
            off += kd;
            if (!nb || !kd) continue;
            const float *base = pad + (py.y0 + ty - py.t) * wq + px.y0 + tx - px.t;
            gemm_rows(pa, g->c, kd, base, po, py.ny * wq, NULL, bp, nb, wq, px.ny, NULL, NULL, NULL,
                      0);
            if (il) {
                rowblk[rx] = bp, rowpx[rx] = px;
                bp += g->c * nb;
                continue;
            }
            /* bp[c][Y][X] -> dx[c][sh*(y0+Y) + ry - ph][sw*(x0+X) + rx - pw] */
            const int64_t iy0 = g->sh * py.y0 + ry - g->ph, ix0 = g->sw * px.y0 + rx - g->pw;
            for (int64_t c = 0; c < g->c; c++)
                for (int64_t y = 0; y < py.ny; y++) {
                    const float *src = bp + (c * py.ny + y) * px.ny;
                    float *d = dxn + c * hw + (iy0 + g->sh * y) * g->w + ix0;
                    if (g->sw == 1)
                        copy_row(d, src, px.ny);
                    else
                        for (int64_t x = 0; x < px.ny; x++)
                            d[g->sw * x] = src[x];
                }
        }
        if (il && py.ny) { /* (no holes: every phase has taps) */
            const int64_t iy0 = g->sh * py.y0 + ry - g->ph;
            const int64_t n0 = rowpx[0].ny, n1 = rowpx[1].ny;
            for (int64_t c = 0; c < g->c; c++)
                for (int64_t y = 0; y < py.ny; y++)
                    interleave2(dxn + c * hw + (iy0 + g->sh * y) * g->w, g->w, g->pw,
                                rowblk[0] + (c * py.ny + y) * n0, rowpx[0].y0, n0,
                                rowblk[1] + (c * py.ny + y) * n1, rowpx[1].y0, n1);
        }
    }
}

/* Stride-1 backward data as the forward convolution of dy (bwd_ct's
 * transposed geometry t) through Winograd, where the caller allows it and
 * the forward would take Winograd for t (use_wino's variant: measured
 * faster there). */
static int bwd_wino(const rp_conv_geom *g, rp_conv_geom *t, int winograd) {
    if (!winograd || forced_bwd_data != RP_CONV_BWD_AUTO || !bwd_transposed(g, t)) return 0;
    const rp_conv_epilogue e = {.winograd = 1};
    return use_wino(t, &e);
}

/* W'[c][k][i][j] = w[k][c][KH-1-i][KW-1-j] into wr (the transposed
 * convolution's weights). */
static void rotate_weights(const rp_conv_geom *g, const float *w, float *wr) {
    const int64_t kk = g->kh * g->kw;
    /* 16 input channels at a time: a kernel's 16 channels are contiguous in w,
     * and 16 rows of wr are written in step (one channel per k, C*KH*KW
     * floats apart, missed the cache at every read on ResNet-18's layer4) */
#pragma omp parallel for num_threads(conv_threads()) schedule(static)
    for (int64_t c0 = 0; c0 < g->c; c0 += 16)
        for (int64_t k = 0; k < g->k; k++)
            for (int64_t c = c0; c < i64min(c0 + 16, g->c); c++)
                for (int64_t q = 0; q < kk; q++)
                    wr[(c * g->k + k) * kk + q] = w[(k * g->c + c) * kk + kk - 1 - q];
}

void rp_conv2d_backward_data(const rp_conv_geom *g, const float *dy, const float *w, float *dx,
                             float *ws) {
    rp_conv2d_backward_data_w(g, dy, w, dx, ws, 0);
}

void rp_conv2d_backward_data_w(const rp_conv_geom *g, const float *dy, const float *w, float *dx,
                               float *ws, int winograd) {
    rp_conv_geom t;
    const size_t wrf = rup((size_t)(g->k * g->c * g->kh * g->kw)); /* rotated weights */
    const int wm = bwd_wino(g, &t, winograd);
    if (wm) {
        rotate_weights(g, w, ws);
        conv_forward_wg(wm, &t, dy, ws, NULL, dx, ws + wrf, NULL);
        return;
    }
    if (bwd_ct(g, &t)) {
        rotate_weights(g, w, ws);
        conv_forward_ct(&t, dy, ws, NULL, dx, ws + wrf, NULL);
        return;
    }
    const int64_t ckk = g->c * g->kh * g->kw, kkk = g->k * g->kh * g->kw;
    const int64_t ohw = g->oh * g->ow, hw = g->h * g->w;
    const int path = bwd_data_path(g);
    const int64_t phq = g->dh * (g->kh - 1) - g->ph, pwq = g->dw * (g->kw - 1) - g->pw;
    const int64_t hq = g->oh + 2 * phq, wq = g->ow + 2 * pwq;
    float *ap = ws;
    float *thr = ws + shared_floats(g);
    const size_t per = thread_floats(g);
    int64_t *off;
    int64_t phq_h = 0, phq_w = 0, phase_pf = 0; /* PATH_PHASE: the dy plane */
    if (path == PATH_PHASE) {
        phase_plane(g, &phq_h, &phq_w);
        (void)phase_thread_floats(g, &phase_pf);
    }
    if (path == PATH_S1) {
        /* A'[c][(k,i,j)] = w[k][c][KH-1-i][KW-1-j] */
        for (int64_t cb = 0; cb < g->c; cb += MR)
            for (int64_t k = 0; k < g->k; k++)
                for (int64_t i = 0; i < g->kh; i++)
                    for (int64_t j = 0; j < g->kw; j++)
                        for (int64_t m = 0; m < MR; m++) {
                            int64_t r = (k * g->kh + i) * g->kw + j, c = cb + m;
                            ap[cb * kkk + r * MR + m] =
                                c < g->c ? w[((k * g->c + c) * g->kh + g->kh - 1 - i) * g->kw +
                                             g->kw - 1 - j]
                                         : 0.0f;
                        }
        off = (int64_t *)(void *)(ws + rup((size_t)((g->c + MR - 1) / MR * MR * kkk)));
        s1_offsets(g->k, hq, wq, g->kh, g->kw, g->dh, g->dw, off);
    } else if (path == PATH_PHASE) {
        /* phase (ry, rx): A[c][(k, u, v)] = w[k][c][ry + sh*(Ty-1-u)][rx + sw*(Tx-1-v)],
         * blocks one after the other; rows (k, u, v) read the plane at
         * k*hq*wq + u*wq + v */
        float *a = ap;
        int64_t *o = off = (int64_t *)(void *)(ws + rup((size_t)((g->c + MR - 1) / MR * MR * kkk)));
        for (int64_t ry = 0; ry < g->sh; ry++)
            for (int64_t rx = 0; rx < g->sw; rx++) {
                const phase_dim py = phase_of(ry, g->kh, g->sh, g->ph, g->h);
                const phase_dim px = phase_of(rx, g->kw, g->sw, g->pw, g->w);
                const int64_t kd = g->k * py.t * px.t;
                for (int64_t cb = 0; cb < g->c; cb += MR)
                    for (int64_t k = 0; k < g->k; k++)
                        for (int64_t u = 0; u < py.t; u++)
                            for (int64_t v = 0; v < px.t; v++)
                                for (int64_t m = 0; m < MR; m++) {
                                    const int64_t r = (k * py.t + u) * px.t + v, c = cb + m;
                                    const int64_t i = ry + g->sh * (py.t - 1 - u),
                                                  j = rx + g->sw * (px.t - 1 - v);
                                    a[cb * kd + r * MR + m] =
                                        c < g->c ? w[((k * g->c + c) * g->kh + i) * g->kw + j]
                                                 : 0.0f;
                                }
                s1_offsets(g->k, phq_h, phq_w, py.t, px.t, 1, 1, o);
                a += (g->c + MR - 1) / MR * MR * kd;
                o += kd;
            }
    } else {
        /* A = W^T: rows (c,i,j) (or c), reduction over k */
        pack_a(w, ckk, g->k, 1, ckk, ap);
        off = (int64_t *)(void *)(ws + rup((size_t)((ckk + MR - 1) / MR * MR * g->k)));
        row_offsets(g->k, ohw, off);
    }
#pragma omp parallel num_threads(conv_threads())
    {
        float *tb = thr + (size_t)omp_get_thread_num() * per;
        const size_t padf = path == PATH_S1 ? (size_t)(g->k * hq * wq + s1_slack(g)) : 0;
        float *pad = tb;
        if (path == PATH_S1) memset(pad, 0, sizeof(float) * padf);
        /* the phase plane's borders and slack stay zero: cleared once */
        if (path == PATH_PHASE) memset(pad, 0, sizeof(float) * (size_t)phase_pf);
#pragma omp for schedule(dynamic, 1) nowait
        for (int64_t n = 0; n < g->n; n++) {
            const float *dyn = dy + n * g->k * ohw; /* [K, OH, OW] */
            float *dxn = dx + n * g->c * hw;        /* [C, H, W] */
            if (path == PATH_POINTWISE) {
                int64_t pw;
                float *pk = pw_panel(g, g->k, tb, per, &pw);
                gemm_rows(ap, g->c, g->k, dyn, off, hw, NULL, dxn, hw, 0, 0, NULL, NULL, pk, pw);
            } else if (path == PATH_S1) {
                pad_copy(dyn, g->k, g->oh, g->ow, phq, pwq, pad);
                gemm_rows(ap, g->c, kkk, pad, off, g->h * wq, NULL, dxn, hw, wq, g->w, NULL, NULL,
                          NULL, 0);
            } else if (path == PATH_PHASE) {
                float *blk = tb + rup((size_t)phase_pf);
                phase_backward(g, dyn, ap, off, phq_h, phq_w, pad, blk, dxn);
            } else {
                /* [C*KH*KW, OH*OW] */
                gemm_rows(ap, ckk, g->k, dyn, off, ohw, NULL, tb, ohw, 0, 0, NULL, NULL, NULL, 0);
                rp_conv_col2im(g, tb, dxn);
            }
        }
    }
}

/* x[C][..] (planes ld apart) -> at[p][r] over p < hw, rows padded with zeros
 * to lda (a multiple of 8): 16x16 register transposes, zeros loaded beyond C. */
static void transpose_in(const float *x, int64_t c, int64_t ld, int64_t hw, int64_t lda,
                         float *at) {
    /* channel blocks outside: 16 sequential read streams (64 or more, one per
     * channel, outran the prefetchers: 2x slower on 56x56x64) */
    for (int64_t c0 = 0; c0 < lda; c0 += 16)
        for (int64_t p0 = 0; p0 < hw; p0 += 16) {
            const int64_t np = i64min(16, hw - p0);
            const __mmask16 pm = lane_range(0, 0, np);
            __m512 r[16];
            for (int i = 0; i < 16; i++)
                r[i] = c0 + i < c ? _mm512_maskz_loadu_ps(pm, x + (c0 + i) * ld + p0)
                                  : _mm512_setzero_ps();
            transpose16(r); /* r[i] = position p0 + i over channels c0.. */
            const __mmask16 cm = lane_range(c0, 0, lda);
            for (int i = 0; i < np; i++)
                _mm512_mask_storeu_ps(at + (p0 + i) * lda + c0, cm, r[i]);
        }
}

/* dy[K][OH][OW] -> dyT[(oy*wrow + ox)][k] (row stride kp, a multiple of 16;
 * zeros written for k in [K, kp)); entries of columns ox >= OW untouched.
 * 16x16 register transposes. */
static void transpose_dy(const float *dy, int64_t k, int64_t oh, int64_t ow, int64_t wrow,
                         int64_t kp, float *dyt) {
    /* (16 channels outside, as transpose_in) */
    for (int64_t k0 = 0; k0 < kp; k0 += 16)
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t x0 = 0; x0 < ow; x0 += 16) {
                const int64_t nx = i64min(16, ow - x0);
                const __mmask16 xm = lane_range(0, 0, nx);
                __m512 r[16];
                for (int i = 0; i < 16; i++)
                    r[i] = k0 + i < k
                               ? _mm512_maskz_loadu_ps(xm, dy + ((k0 + i) * oh + oy) * ow + x0)
                               : _mm512_setzero_ps();
                transpose16(r); /* r[i] = position ox = x0 + i over channels k0.. */
                for (int i = 0; i < nx; i++)
                    _mm512_storeu_ps(dyt + (oy * wrow + x0 + i) * kp + k0, r[i]);
            }
}

enum { WG_3X3, WG_PLANES, WG_PW };

/* Winograd weight gradient where the caller allows it (1: per image group,
 * conv_wgrad_wino; 2: per channel unit, conv_wgrad_wx): forced
 * (RP_CONV_WINOGRAD, the group form) wherever it fits; else on 3x3 stride-1
 * layers of 32+ channels. Measured (bench_conv, ms, 2 threads, direct ->
 * Winograd): ResNet-18's 56x56x64 23.4-24.3 -> 21.3-21.9, 28x28x128
 * 26.6-26.8 -> 18.0-18.3, 14x14x256 26.9-28.1 -> 16.1-16.4; the CIFAR CNN's
 * 32x32x32 9.2-9.5 -> 7.0-7.4; ResNet-20's 8x8x64 2.4 -> 2.1-2.2, but no
 * gain with 16 channels. Beyond 256 x 256 the group form's partials (16 x
 * C x K per group) would cost 34 MB at 7x7x512; the unit form keeps one M
 * per unit of WX_CW channels: 7x7x512 25.6-33.3 -> 20.2-21.0, ResNet-18
 * training +1.5-4 %, peak RSS not higher. On larger maps the unit form's
 * per-product transforms of dy are slower (28x28x128: 14.6 -> 124 ms). */
static int use_ww(const rp_conv_geom *g, int winograd) {
    if (!winograd || !wino_fits(g)) return 0;
    if (forced_forward == RP_CONV_WINOGRAD) return 1;
    if (forced_forward != RP_CONV_AUTO) return 0;
    if (g->c < 32 || g->k < 32) return 0;
    return g->c * g->k <= 256 * 256 ? 1 : 2;
}

void rp_conv2d_backward_weight(const rp_conv_geom *g, const float *x, const float *dy, float *dw,
                               float *db, float *ws) {
    rp_conv2d_backward_weight_w(g, x, dy, dw, db, ws, 0);
}

void rp_conv2d_backward_weight_w(const rp_conv_geom *g, const float *x, const float *dy, float *dw,
                                 float *db, float *ws, int winograd) {
    const int wm = use_ww(g, winograd);
    if (wm) {
        if (wm == 2)
            conv_wgrad_wx(g, x, dy, dw, db, ws);
        else
            conv_wgrad_wino(g, x, dy, dw, db, ws);
        return;
    }
    rp_conv_geom gp;
    if (strided_pointwise(g, &gp)) {
        subsample(g, x, ws);
        rp_conv2d_backward_weight(&gp, ws, dy, dw, db, ws + sub_floats(g));
        return;
    }
    const int64_t ckk = g->c * g->kh * g->kw, ohw = g->oh * g->ow, hw = g->h * g->w;
    const int64_t hp = plane_hs(g), wp = plane_ws(g), kp = rup16(g->k);
    const int s1 = g->sh == 1 && g->sw == 1;
    const int wg = rp_conv_is_pointwise(g)                                        ? WG_PW
                   : (s1 && g->kh == 3 && g->kw == 3 && g->dh == 1 && g->dw == 1) ? WG_3X3
                                                                                  : WG_PLANES;
    int64_t *off = (int64_t *)(void *)ws;
    float *thr = ws + shared_floats(g);
    const size_t per = thread_floats(g);
    const int T = conv_threads();
    if (wg == WG_PLANES) plane_offsets(g, off);
    /* 1x1 with at least as many input as output channels: the input rows
     * are read in place (six rows a tile, one pass per 32 output channels)
     * instead of transposed to channels-last first; measured (bench_conv, CPU
     * time, 1 thread) 2x on ResNet-50's 256->64 at 56x56, 1.2x on 512->128
     * at 28x28, but 0.75x on 64->256 and 256->1024, whose many output
     * channels re-read the rows too often */
    const int inplace = wg == WG_PW && g->c >= g->k;
    if (inplace)
        for (int64_t r = 0; r < g->c; r++)
            off[r] = r * hw;
    const size_t padf = (size_t)plane_floats(g);
    const int64_t lda = rup24(g->c); /* channels-last input of the 1x1 path */
    /* per-thread buffers: [operand][dy copy][partial dw (+db)] */
    size_t opf = 0, dyf = 0;
    int64_t P = 0;
    if (wg == WG_PW)
        P = hw, opf = (size_t)(P * lda), dyf = (size_t)(P * kp);
    else
        P = g->oh * wp, opf = padf, dyf = (size_t)(P * kp);
    const int64_t partf = ckk * kp; /* [CKK][kp] */
    const int64_t G = rp_conv_thread_split() ? wg_groups_split(g, T) : wg_groups(g);
    float *parts = ws + shared_head_floats(g); /* G x ([CKK][kp] + [K]) */
    /* images are prepared in chunks of nbc and each tile sums a whole chunk
     * in registers: the partial is read and written once per chunk */
    const int nbc = wg_chunk(g);
    const size_t opst = rup(opf), dyst = rup(dyf); /* per-image slot strides */
#pragma omp parallel num_threads(T)
    {
        float *tb = thr + (size_t)omp_get_thread_num() * per;
        float *opnd = tb, *dyb = tb + (size_t)nbc * opst;
        float *row = tb + per - rup((size_t)(2 * wp + 32));
        /* zero once: padding borders, discarded dy columns and the padded
         * operand columns stay zero across images */
        memset(opnd, 0, sizeof(float) * (size_t)nbc * (opst + dyst));
#pragma omp for schedule(dynamic, 1) nowait
        for (int64_t gi = 0; gi < G; gi++) {
            float *part = parts + (size_t)gi * group_floats(g), *pdb = part + partf;
            memset(part, 0, sizeof(float) * (size_t)(partf + g->k));
            const int64_t gend = g->n * (gi + 1) / G;
            for (int64_t n0 = g->n * gi / G; n0 < gend; n0 += nbc) {
                const int nb = (int)i64min(nbc, gend - n0);
                for (int i = 0; i < nb; i++) {
                    const float *xn = x + (n0 + i) * g->c * hw;    /* [C, H, W] */
                    const float *dyn = dy + (n0 + i) * g->k * ohw; /* [K, OH, OW] */
                    float *op = opnd + (size_t)i * opst, *dt = dyb + (size_t)i * dyst;
                    if (db)
                        for (int64_t k = 0; k < g->k; k++)
                            pdb[k] += plane_sum(dyn + k * ohw, ohw);
                    if (wg == WG_PW) {
                        if (!inplace) transpose_in(xn, g->c, hw, hw, lda, op);
                        transpose_dy(dyn, g->k, g->oh, g->ow, g->ow, kp, dt);
                    } else {
                        plane_copy(g, xn, op, row);
                        transpose_dy(dyn, g->k, g->oh, g->ow, wp, kp, dt);
                    }
                }
                if (wg == WG_3X3)
                    wgrad_t_3x3(opnd, g->c, hp * wp, wp, dyb, kp, P, part, nb, (int64_t)opst,
                                (int64_t)dyst);
                else if (wg == WG_PLANES)
                    wgrad_t_planes(opnd, off, ckk, dyb, kp, P, part, nb, (int64_t)opst,
                                   (int64_t)dyst);
                else if (inplace)
                    wgrad_t_planes(x + n0 * g->c * hw, off, g->c, dyb, kp, P, part, nb, g->c * hw,
                                   (int64_t)dyst);
                else
                    wgrad_t_rows(opnd, lda, g->c, dyb, kp, P, part, nb, (int64_t)opst,
                                 (int64_t)dyst);
            }
        }
    }
    /* reduction of the group partials, each element in group order (so the
     * same bytes whichever thread takes which output channel); in parallel
     * over output channels: for ResNet-18's layer4 the partials are 4 x 2.4M
     * floats, too much for one thread */
    const size_t gf = group_floats(g);
    /* 16 x 16 tiles: the dw tile transposed into registers, each partial's
     * rows added (element by element the same additions in the same order
     * as a scalar dw[k][r] += part[r][k] loop, so the same bytes), transposed
     * back: the scalar loop striding through the [CKK][kp] partials made
     * ResNet-18 layer4's weight gradient 1.45x slower (1 thread, CPU time) */
#pragma omp parallel for num_threads(T) schedule(static)
    for (int64_t k0 = 0; k0 < g->k; k0 += 16) {
        const int64_t nk = i64min(16, g->k - k0);
        const __mmask16 km = lane_range(0, 0, nk);
        for (int64_t r0 = 0; r0 < ckk; r0 += 16) {
            const int64_t nr = i64min(16, ckk - r0);
            const __mmask16 rm = lane_range(0, 0, nr);
            __m512 t[16];
            for (int j = 0; j < 16; j++)
                t[j] = j < nk ? _mm512_maskz_loadu_ps(rm, dw + (k0 + j) * ckk + r0)
                              : _mm512_setzero_ps();
            transpose16(t); /* t[i]: dw[k0 ..][r0 + i] */
            for (int64_t gi = 0; gi < G; gi++) {
                const float *part = parts + (size_t)gi * gf + r0 * kp + k0;
                for (int i = 0; i < nr; i++)
                    t[i] = _mm512_add_ps(t[i], _mm512_maskz_loadu_ps(km, part + i * kp));
            }
            transpose16(t);
            for (int j = 0; j < nk; j++)
                _mm512_mask_storeu_ps(dw + (k0 + j) * ckk + r0, rm, t[j]);
        }
        if (db)
            for (int64_t k = k0; k < k0 + nk; k++)
                for (int64_t gi = 0; gi < G; gi++)
                    db[k] += parts[(size_t)gi * gf + partf + k];
    }
}
#endif
