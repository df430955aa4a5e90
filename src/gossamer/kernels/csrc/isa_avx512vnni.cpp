// MXFP4 experts times int8-quantized activations with AVX512-VNNI (vpdpbusd), the CPU default
// for bf16 models.
//
// Why: decoding nibbles to bf16 for vdpbf16ps costs about eleven vector instructions per 64
// weights, and on two cores that, not the memory bus, limits decode. Here an E2M1 code becomes
// an int8 with one in-lane byte shuffle (2 * value + 12, in 0..24, so it is an unsigned vpdpbusd
// operand) and one instruction multiplies 64 weights; the weights stay exact, the activations
// are rounded to int8 per 32-value block with a float scale (llama.cpp's q8_0 precision).
//
// Per row, 16 blocks are taken together: four 64-byte loads of codes (4 blocks each) give four
// vectors of int32 partial sums (128-bit lane k of load c = block 4c + k); a 4 x 4 transpose-add
// turns them into one vector holding each block's whole sum (dword 4k + c = block 4c + k), so the
// per-block scaling (convert, scale, accumulate) happens once per 16 blocks instead of once per 4.
// The +12 offset of the weights is removed by adding -12 * (the block's activation sum).
//
// Layout (gk_quantize_q8, one record of kQ8ChunkBytes per chunk of 16 blocks and token):
//   xq    [4][128] int8: for sub-chunk c, 64 even elements then 64 odd ones; 16-byte lane k =
//                        block 4c + k, matching the low and high nibbles of a 64-byte code load
//   corr  [16] int32:    dword 4k + c = -12 * the sum of block 4c + k's int8 activations
//   scale [16] float:    dword 4k + c = block 4c + k's activation scale / 2 (the weights are
//                        2 * value); zero for padding blocks past the row's end
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels.h"

namespace {

// Signed E2M1 code -> 2 * value + 12.
inline __m512i code_table() {
    return _mm512_broadcast_i32x4(_mm_setr_epi8(12, 13, 14, 15, 16, 18, 20, 24, 12, 11, 10, 9, 8, 6, 4, 0));
}

// Byte 4c + k of 16 -> byte 4k + c (the transposed block order of the sums).
inline __m128i transpose_4x4_bytes() { return _mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15); }

// Per 128-bit lane: [sum(a), sum(b), sum(c), sum(d)] of four vectors' dwords.
inline __m512i transpose_add(__m512i a, __m512i b, __m512i c, __m512i d) {
    const __m512i ab = _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
    const __m512i cd = _mm512_add_epi32(_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d));
    return _mm512_add_epi32(_mm512_unpacklo_epi64(ab, cd), _mm512_unpackhi_epi64(ab, cd));
}

// Rows [r, r + ROWS) x NT tokens over one chunk of up to 16 blocks starting at block b.
template <int ROWS, int NT, bool TAIL>
inline void q8_chunk(const uint8_t* blocks, const uint8_t* scales, int64_t nb, int64_t b, const uint8_t* xc,
                     int64_t ldq, __m512 (&acc)[ROWS][NT], int64_t r) {
    const __m512i lut = code_table(), low4 = _mm512_set1_epi8(0x0F);
    const int64_t left = TAIL ? nb - b : 16;  // blocks in this chunk
    for (int i = 0; i < ROWS; ++i) {
        const uint8_t* p = blocks + ((r + i) * nb + b) * 16;
        __m512i part[NT][4];
        for (int c = 0; c < 4; ++c) {
            if (TAIL && 4 * c >= left) {
                for (int n = 0; n < NT; ++n) part[n][c] = _mm512_setzero_si512();
                continue;
            }
            const int64_t in_sub = left - 4 * c < 4 ? left - 4 * c : 4;
            const __m512i v = TAIL ? _mm512_maskz_loadu_epi8((__mmask64)(~0ULL >> (64 - 16 * in_sub)), p + c * 64)
                                   : _mm512_loadu_si512((const void*)(p + c * 64));
            const __m512i lo = _mm512_shuffle_epi8(lut, _mm512_and_si512(v, low4));
            const __m512i hi = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(v, 4), low4));
            for (int n = 0; n < NT; ++n) {
                const uint8_t* x = xc + n * ldq + c * 128;
                const __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, _mm512_loadu_si512((const void*)x));
                part[n][c] = _mm512_dpbusd_epi32(s, hi, _mm512_loadu_si512((const void*)(x + 64)));
            }
        }
        // This row's 16 scale bytes in the sums' order, as floats 2**(s-127) (exponent bits s).
        const __m128i sb = TAIL ? _mm_maskz_loadu_epi8((__mmask16)((1u << left) - 1), scales + (r + i) * nb + b)
                                : _mm_loadu_si128((const __m128i*)(scales + (r + i) * nb + b));
        const __m512 sw = _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu8_epi32(_mm_shuffle_epi8(sb, transpose_4x4_bytes())), 23));
        for (int n = 0; n < NT; ++n) {
            const uint8_t* x = xc + n * ldq;
            __m512i sums = transpose_add(part[n][0], part[n][1], part[n][2], part[n][3]);
            sums = _mm512_add_epi32(sums, _mm512_loadu_si512((const void*)(x + 512)));
            const __m512 scale = _mm512_mul_ps(sw, _mm512_loadu_ps((const float*)(x + 576)));
            acc[i][n] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), scale, acc[i][n]);
        }
    }
}

template <int ROWS, int NT>
void q8_rows(const uint8_t* blocks, const uint8_t* scales, int64_t nb, const uint8_t* xq, int64_t ldq, float* y,
             int64_t ldy, int64_t r) {
    __m512 acc[ROWS][NT];
    for (int i = 0; i < ROWS; ++i)
        for (int n = 0; n < NT; ++n) acc[i][n] = _mm512_setzero_ps();
    // Prefetch the next row group into L1 as this one is consumed (its ROWS * nb * 16 code bytes
    // spread evenly over the chunks), and the one three groups on into L2: without the first one
    // core streams at about half its share of the bandwidth; the second adds 5-10% (measured on
    // 20b experts).
    const char* ahead = (const char*)(blocks + (r + ROWS) * nb * 16);
    const char* far = (const char*)(blocks + (r + 3 * ROWS) * nb * 16);
    for (int j = 0; j < ROWS * nb; j += 64) _mm_prefetch((const char*)(scales + (r + ROWS) * nb) + j, _MM_HINT_T0);
    const int64_t full = nb / 16, chunks = (nb + 15) / 16;
    const int64_t span = (ROWS * nb * 16 + chunks * 64 - 1) / (chunks * 64) * 64;  // bytes per chunk
    for (int64_t k = 0; k < chunks; ++k) {
        for (int64_t j = k * span; j < (k + 1) * span; j += 64) {
            _mm_prefetch(ahead + j, _MM_HINT_T0);
            _mm_prefetch(far + j, _MM_HINT_T1);
        }
        if (k < full)
            q8_chunk<ROWS, NT, false>(blocks, scales, nb, k * 16, xq + k * kQ8ChunkBytes, ldq, acc, r);
        else
            q8_chunk<ROWS, NT, true>(blocks, scales, nb, k * 16, xq + k * kQ8ChunkBytes, ldq, acc, r);
    }
    for (int i = 0; i < ROWS; ++i)
        for (int n = 0; n < NT; ++n) y[n * ldy + r + i] = _mm512_reduce_add_ps(acc[i][n]);
}

// More tokens need more registers for their partial sums: fewer rows per step then.
template <int NT>
void q8_tile_tokens(const uint8_t* blocks, const uint8_t* scales, int64_t nb, const uint8_t* xq, int64_t ldq,
                    float* y, int64_t ldy, int64_t r0, int64_t r1) {
    constexpr int kRows = NT <= 1 ? 4 : 2;
    int64_t r = r0;
    for (; r + kRows <= r1; r += kRows) q8_rows<kRows, NT>(blocks, scales, nb, xq, ldq, y, ldy, r);
    for (; r < r1; ++r) q8_rows<1, NT>(blocks, scales, nb, xq, ldq, y, ldy, r);
}

}  // namespace

extern "C" int64_t gk_q8_row_bytes(int64_t C) { return (C / 32 + 15) / 16 * kQ8ChunkBytes; }

// Quantize rows of x [N, C] (bf16 bits, C a multiple of 32) into the layout above: per 32-value
// block, q = round-to-nearest-even(v * 127 / max|v|), as lrintf rounds, a block at a time in two
// vectors (the scalar loop it replaced took 0.5 ms for 64 rows of 2,880 values: 4% of a 16-token
// 20b decode step).
extern "C" void gk_quantize_q8(const uint16_t* x, int64_t N, int64_t C, uint8_t* out) {
    const int64_t nb = C / 32, row_bytes = gk_q8_row_bytes(C);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    const auto widen = [](const uint16_t* p) {  // 16 bf16 -> float32, exactly
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i*)p)), 16));
    };
    for (int64_t n = 0; n < N; ++n) {
        uint8_t* row = out + n * row_bytes;
        memset(row, 0, (size_t)row_bytes);
        for (int64_t b = 0; b < nb; ++b) {
            const uint16_t* xb = x + n * C + b * 32;
            const __m512 v0 = widen(xb), v1 = widen(xb + 16);  // elements 0-15, 16-31
            const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
            const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
            const __m512 scale = _mm512_set1_ps(inv);
            const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, scale));  // |q| <= 127
            const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, scale));
            uint8_t* chunk = row + (b / 16) * kQ8ChunkBytes;
            const int c = (int)(b % 16) / 4, lane = (int)(b % 4);
            _mm_storeu_si128((__m128i*)(chunk + c * 128 + lane * 16),
                             _mm512_cvtepi32_epi8(_mm512_permutex2var_epi32(q0, even, q1)));
            _mm_storeu_si128((__m128i*)(chunk + c * 128 + 64 + lane * 16),
                             _mm512_cvtepi32_epi8(_mm512_permutex2var_epi32(q0, odd, q1)));
            const int32_t sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
            ((int32_t*)(chunk + 512))[lane * 4 + c] = -12 * sum;
            ((float*)(chunk + 576))[lane * 4 + c] = 0.5f * amax / 127.0f;
        }
    }
}

// MXFP4 rows [r0, r1) times N quantized tokens (records of ldq bytes, from gk_quantize_q8).
// y[n * ldy + r] = sum_c W[r, c] * x[n, c] (no bias). A scale byte of 0 counts as 0 instead of
// 2**-127 (a subnormal, far below float32 resolution of any sum it joins); 255 (E8M0's NaN)
// gives inf, as the torch path's ldexp does.
extern "C" void gk_mxfp4_tile_q8(const uint8_t* blocks, const uint8_t* scales, int64_t nb, const uint8_t* xq,
                                 int64_t ldq, int64_t N, float* y, int64_t ldy, int64_t r0, int64_t r1) {
    for_token_groups(N, [&](auto nt, int64_t n0) {
        q8_tile_tokens<decltype(nt)::value>(blocks, scales, nb, xq + n0 * ldq, ldq, y + n0 * ldy, ldy, r0, r1);
    });
}
