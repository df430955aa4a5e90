// MXFP4 experts times int8-quantized activations with AVX512-VNNI (vpdpbusd), the CPU default
// for bf16 models.
//
// Why: decoding nibbles to bf16 for vdpbf16ps costs about eleven vector instructions per 64
// weights, and on two cores that, not the memory bus, limits decode. Here an E2M1 code becomes
// an int8 with one in-lane byte shuffle (2 * value + 12, in 0..24, so it is an unsigned vpdpbusd
// operand) and one instruction multiplies 64 weights; the weights stay exact, the activations
// are rounded to int8 per 32-value block with a float scale (llama.cpp's q8_0 precision). The
// +12 offset is removed by starting each block's integer sum at -12 * (its activations' sum).
//
// Layout (gk_quantize_q8, one record of kQ8GroupBytes per group of 4 blocks and token):
//   xq    [128] int8:  64 even elements, then 64 odd ones; 16-byte lane k = block 4g + k,
//                      matching the low and high nibbles of a 64-byte load of 4 blocks' codes
//   corr  [16] int32:  -12 * the sum of the 8 activation bytes each vpdpbusd lane multiplies
//   scale [16] float:  lanes 4k..4k+3 = block 4g + k's activation scale / 2 (the weights are
//                      2 * value); zero for the padding blocks past the row's end
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels.h"

namespace {

// Signed E2M1 code -> 2 * value + 12.
inline __m512i code_table() {
    return _mm512_broadcast_i32x4(_mm_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0));
}

// Byte k of a broadcast dword -> the low byte of dwords 4k..4k+3, zero elsewhere.
inline __m512i spread_table() {
    alignas(64) int8_t idx[64];
    for (int j = 0; j < 64; ++j) idx[j] = (j % 4 == 0) ? (int8_t)(j / 16) : (int8_t)-1;
    return _mm512_load_si512(idx);
}

template <int ROWS, int NT, bool TAIL>
inline void q8_group(const uint8_t* blocks, const uint8_t* scales, int64_t nb, int64_t b, const uint8_t* xg,
                     int64_t ldq, const __m512i lut, const __m512i spread, __m512 (&acc)[ROWS][NT], int64_t r) {
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    const __mmask64 m = TAIL ? (__mmask64)((1ULL << ((nb - b) * 16)) - 1) : ~(__mmask64)0;
    for (int i = 0; i < ROWS; ++i) {
        const uint8_t* p = blocks + ((r + i) * nb + b) * 16;
        const __m512i v = TAIL ? _mm512_maskz_loadu_epi8(m, p) : _mm512_loadu_si512((const void*)p);
        const __m512i lo = _mm512_shuffle_epi8(lut, _mm512_and_si512(v, low4));
        const __m512i hi = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(v, 4), low4));
        int32_t sb = 0;  // this row's 4 scale bytes (2**(s-127) is the float with exponent bits s)
        memcpy(&sb, scales + (r + i) * nb + b, TAIL ? nb - b : 4);
        const __m512 sw = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_shuffle_epi8(_mm512_set1_epi32(sb), spread), 23));
        for (int n = 0; n < NT; ++n) {
            const uint8_t* x = xg + n * ldq;
            __m512i s = _mm512_dpbusd_epi32(_mm512_loadu_si512((const void*)(x + 128)), lo,
                                            _mm512_loadu_si512((const void*)x));
            s = _mm512_dpbusd_epi32(s, hi, _mm512_loadu_si512((const void*)(x + 64)));
            const __m512 scale = _mm512_mul_ps(sw, _mm512_loadu_ps((const float*)(x + 192)));
            acc[i][n] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), scale, acc[i][n]);
        }
    }
}

template <int ROWS, int NT>
void q8_rows(const uint8_t* blocks, const uint8_t* scales, int64_t nb, const uint8_t* xq, int64_t ldq, float* y,
             int64_t ldy, int64_t r) {
    const __m512i lut = code_table(), spread = spread_table();
    __m512 acc[ROWS][NT];
    for (int i = 0; i < ROWS; ++i)
        for (int n = 0; n < NT; ++n) acc[i][n] = _mm512_setzero_ps();
    // Prefetch the next row group as this one is consumed (ROWS * 64 code bytes per group of
    // 4 blocks); without it one core streams at about half its share of the bandwidth.
    const char* ahead = (const char*)(blocks + (r + ROWS) * nb * 16);
    for (int j = 0; j < ROWS * nb; j += 64) _mm_prefetch((const char*)(scales + (r + ROWS) * nb) + j, _MM_HINT_T0);
    const int64_t full = nb / 4;
    for (int64_t g = 0; g < full; ++g) {
        for (int j = 0; j < ROWS * 64; j += 64) _mm_prefetch(ahead + g * ROWS * 64 + j, _MM_HINT_T0);
        q8_group<ROWS, NT, false>(blocks, scales, nb, g * 4, xq + g * kQ8GroupBytes, ldq, lut, spread, acc, r);
    }
    if (nb % 4) q8_group<ROWS, NT, true>(blocks, scales, nb, full * 4, xq + full * kQ8GroupBytes, ldq, lut, spread, acc, r);
    for (int i = 0; i < ROWS; ++i)
        for (int n = 0; n < NT; ++n) y[n * ldy + r + i] = _mm512_reduce_add_ps(acc[i][n]);
}

template <int ROWS>
void q8_rows_any_tokens(const uint8_t* blocks, const uint8_t* scales, int64_t nb, const uint8_t* xq, int64_t ldq,
                        int64_t N, float* y, int64_t ldy, int64_t r) {
    for_token_groups(N, [&](auto nt, int64_t n0) {
        q8_rows<ROWS, decltype(nt)::value>(blocks, scales, nb, xq + n0 * ldq, ldq, y + n0 * ldy, ldy, r);
    });
}

inline float bf16_to_float(uint16_t bits) {
    const uint32_t u = (uint32_t)bits << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

}  // namespace

extern "C" int64_t gk_q8_row_bytes(int64_t C) { return (C / 32 + 3) / 4 * kQ8GroupBytes; }

// Quantize rows of x [N, C] (bf16 bits, C a multiple of 32) into the layout above.
extern "C" void gk_quantize_q8(const uint16_t* x, int64_t N, int64_t C, uint8_t* out) {
    const int64_t nb = C / 32, row_bytes = gk_q8_row_bytes(C);
    for (int64_t n = 0; n < N; ++n) {
        uint8_t* row = out + n * row_bytes;
        memset(row, 0, (size_t)row_bytes);
        for (int64_t b = 0; b < nb; ++b) {
            const uint16_t* xb = x + n * C + b * 32;
            float v[32], amax = 0.0f;
            for (int j = 0; j < 32; ++j) {
                v[j] = bf16_to_float(xb[j]);
                amax = fmaxf(amax, fabsf(v[j]));
            }
            const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
            uint8_t* g = row + (b / 4) * kQ8GroupBytes;
            int32_t* corr = (int32_t*)(g + 128);
            float* scale = (float*)(g + 192);
            const int lane = (int)(b % 4);
            for (int j = 0; j < 32; ++j) {
                const int8_t q = (int8_t)lrintf(v[j] * inv);  // |q| <= 127
                g[(j % 2) * 64 + lane * 16 + j / 2] = (uint8_t)q;
                corr[lane * 4 + (j / 2) / 4] -= 12 * q;
            }
            for (int t = 0; t < 4; ++t) scale[lane * 4 + t] = 0.5f * amax / 127.0f;
        }
    }
}

// MXFP4 rows [r0, r1) times N quantized tokens (records of ldq bytes, from gk_quantize_q8).
// y[n * ldy + r] = sum_c W[r, c] * x[n, c] (no bias). A scale byte of 0 counts as 0 instead of
// 2**-127 (a subnormal, far below float32 resolution of any sum it joins); 255 (E8M0's NaN)
// gives inf, as the torch path's ldexp does.
extern "C" void gk_mxfp4_tile_q8(const uint8_t* blocks, const uint8_t* scales, int64_t nb, const uint8_t* xq,
                                 int64_t ldq, int64_t N, float* y, int64_t ldy, int64_t r0, int64_t r1) {
    constexpr int kRows = 4;
    int64_t r = r0;
    for (; r + kRows <= r1; r += kRows) q8_rows_any_tokens<kRows>(blocks, scales, nb, xq, ldq, N, y, ldy, r);
    for (; r < r1; ++r) q8_rows_any_tokens<1>(blocks, scales, nb, xq, ldq, N, y, ldy, r);
}
