// MXFP4 experts times many bf16 tokens (prefill) with AVX512-BF16 dot products.
//
// A group of rows is decoded once into scaled bf16 (exact: an E2M1 value times a power of two
// has 3 significant bits) in a small per-thread buffer, then every token's activations stream
// past it through vdpbf16ps (32 multiply-adds per instruction, float32 accumulation). With bf16
// activations this computes exactly what the torch bf16 path computes, in float32, without ever
// expanding more than ROWS rows of one expert. Compiled with -mavx512bf16 and called only when
// cpuid reports it.
#include <immintrin.h>

#include <vector>

#include "kernels.h"

namespace {

constexpr int kRows = 4;
constexpr int kTokens = 4;

// Decode rows [r, r + rows) into w: per 32-block, 16 bf16 of the even elements then 16 of the
// odd ones (the activations are stored in the same order).
void decode_rows(const uint8_t* blocks, const uint8_t* scales, int64_t nb, int64_t r, int rows,
                 uint16_t* w) {
    const __m512 lut = _mm512_loadu_ps(kFp4Values);
    for (int i = 0; i < rows; ++i)
        for (int64_t b = 0; b < nb; ++b) {
            const uint8_t* p = blocks + ((r + i) * nb + b) * 16;
            const __m512i codes = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i*)p));
            const __m512 s = _mm512_set1_ps(gk_scale_lut[scales[(r + i) * nb + b]]);
            const __m512 lo = _mm512_mul_ps(_mm512_permutexvar_ps(codes, lut), s);
            const __m512 hi = _mm512_mul_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(codes, 4), lut), s);
            const __m512bh packed = _mm512_cvtne2ps_pbh(hi, lo);  // low half <- lo, high half <- hi
            _mm512_storeu_si512((void*)(w + (i * nb + b) * 32), (__m512i)packed);
        }
}

template <int ROWS, int NT>
inline void dot_rows(const uint16_t* w, int64_t nb, const uint16_t* xs, int64_t ldx, float* y, int64_t ldy,
                     int64_t r) {
    __m512 acc[ROWS][NT];
    for (int i = 0; i < ROWS; ++i)
        for (int n = 0; n < NT; ++n) acc[i][n] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        __m512bh xv[NT];
        for (int n = 0; n < NT; ++n)
            xv[n] = (__m512bh)_mm512_loadu_si512((const void*)(xs + n * ldx + b * 32));
        for (int i = 0; i < ROWS; ++i) {
            const __m512bh wv = (__m512bh)_mm512_loadu_si512((const void*)(w + (i * nb + b) * 32));
            for (int n = 0; n < NT; ++n) acc[i][n] = _mm512_dpbf16_ps(acc[i][n], wv, xv[n]);
        }
    }
    for (int i = 0; i < ROWS; ++i)
        for (int n = 0; n < NT; ++n) y[n * ldy + r + i] = _mm512_reduce_add_ps(acc[i][n]);
}

template <int ROWS>
void dot_rows_any_tokens(const uint16_t* w, int64_t nb, const uint16_t* xs, int64_t ldx, int64_t N, float* y,
                         int64_t ldy, int64_t r) {
    for (int64_t n0 = 0; n0 < N; n0 += kTokens) {
        const uint16_t* xn = xs + n0 * ldx;
        float* yn = y + n0 * ldy;
        switch (N - n0 >= kTokens ? kTokens : N - n0) {
            case 1: dot_rows<ROWS, 1>(w, nb, xn, ldx, yn, ldy, r); break;
            case 2: dot_rows<ROWS, 2>(w, nb, xn, ldx, yn, ldy, r); break;
            case 3: dot_rows<ROWS, 3>(w, nb, xn, ldx, yn, ldy, r); break;
            default: dot_rows<ROWS, 4>(w, nb, xn, ldx, yn, ldy, r); break;
        }
    }
}

}  // namespace

extern "C" void gk_mxfp4_tile_bf16(const uint8_t* blocks, const uint8_t* scales, int64_t nb, const uint16_t* xs,
                                   int64_t ldx, int64_t N, float* y, int64_t ldy, int64_t r0, int64_t r1) {
    // Scratch for kRows decoded rows (23 KB at C = 2880: stays in L1), reused across calls.
    thread_local std::vector<uint16_t> w;
    if ((int64_t)w.size() < kRows * nb * 32) w.resize(kRows * nb * 32);
    int64_t r = r0;
    for (; r + kRows <= r1; r += kRows) {
        decode_rows(blocks, scales, nb, r, kRows, w.data());
        dot_rows_any_tokens<kRows>(w.data(), nb, xs, ldx, N, y, ldy, r);
    }
    for (; r < r1; ++r) {
        decode_rows(blocks, scales, nb, r, 1, w.data());
        dot_rows_any_tokens<1>(w.data(), nb, xs, ldx, N, y, ldy, r);
    }
}
