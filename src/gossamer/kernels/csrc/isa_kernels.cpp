// Row-tile kernels for one instruction set; see kernels.h for the contract.
//
// Compiled three times: -DGK_ISA=avx512 (-mavx512f -mavx512bw -mavx512vl -mfma),
// -DGK_ISA=avx2 (-mavx2 -mfma) and -DGK_ISA=scalar. The code paths below are chosen by the
// compiler's own feature macros, so each object only holds instructions of its set.
#include <immintrin.h>
#include <string.h>

#include "kernels.h"

#define GK_CAT2(a, b) a##_##b
#define GK_CAT(a, b) GK_CAT2(a, b)
#define GK_FN(name) GK_CAT(name, GK_ISA)

namespace {

// Output rows handled together: they share every activation load (tokens: see kTokenGroup).
constexpr int kRows = 4;

#if defined(__AVX512F__)

// ---------------------------------------------------------------- AVX-512: 16 floats a vector
template <int ROWS, int NT>
inline void mxfp4_rows(const uint8_t* blocks, const uint8_t* scales, int64_t nb, const float* xs,
                       int64_t ldx, float* y, int64_t ldy, int64_t r) {
    // One 32-value block = 16 code bytes; zero-extended to 16 dwords, the low nibble of dword j
    // is element 2j and the high nibble element 2j+1. vpermps reads only the low 4 index bits,
    // so the low nibble needs no masking. xs holds, per block, the 16 even elements then the
    // 16 odd ones, so both halves multiply contiguous activations.
    const __m512 lut = _mm512_loadu_ps(kFp4Values);
    __m512 acc[ROWS][NT];
    for (int i = 0; i < ROWS; ++i)
        for (int n = 0; n < NT; ++n) acc[i][n] = _mm512_setzero_ps();
    // Prefetch the next row group (contiguous: ROWS * 16 code bytes per block), as in dense_rows.
    const char* ahead = (const char*)(blocks + (r + ROWS) * nb * 16);
    for (int64_t b = 0; b < nb; ++b) {
        for (int j = 0; j < ROWS * 16; j += 64) _mm_prefetch(ahead + b * ROWS * 16 + j, _MM_HINT_T0);
        __m512 xe[NT], xo[NT];
        for (int n = 0; n < NT; ++n) {
            xe[n] = _mm512_loadu_ps(xs + n * ldx + b * 32);
            xo[n] = _mm512_loadu_ps(xs + n * ldx + b * 32 + 16);
        }
        for (int i = 0; i < ROWS; ++i) {
            const uint8_t* p = blocks + ((r + i) * nb + b) * 16;
            const __m512i codes = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i*)p));
            __m512 lo = _mm512_permutexvar_ps(codes, lut);
            __m512 hi = _mm512_permutexvar_ps(_mm512_srli_epi32(codes, 4), lut);
            const __m512 s = _mm512_set1_ps(gk_scale_lut[scales[(r + i) * nb + b]]);
            if (NT == 1) {
                // One token: sum the block first, scale once (3 flops instructions, not 4).
                __m512 t = _mm512_mul_ps(lo, xe[0]);
                t = _mm512_fmadd_ps(hi, xo[0], t);
                acc[i][0] = _mm512_fmadd_ps(t, s, acc[i][0]);
            } else {
                lo = _mm512_mul_ps(lo, s);
                hi = _mm512_mul_ps(hi, s);
                for (int n = 0; n < NT; ++n) {
                    acc[i][n] = _mm512_fmadd_ps(lo, xe[n], acc[i][n]);
                    acc[i][n] = _mm512_fmadd_ps(hi, xo[n], acc[i][n]);
                }
            }
        }
    }
    for (int i = 0; i < ROWS; ++i)
        for (int n = 0; n < NT; ++n) y[n * ldy + r + i] = _mm512_reduce_add_ps(acc[i][n]);
}

inline __m512 load16_bf16(const uint16_t* p) {
    // bf16 is the top half of a float32: widen and shift, exact.
    const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i*)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}
inline __m512 load16_f32(const float* p) { return _mm512_loadu_ps(p); }

template <int ROWS, int NT, typename T, __m512 (*LOAD)(const T*)>
inline void dense_rows(const T* w, int64_t C, const float* x, int64_t ldx, float* y, int64_t ldy,
                       int64_t r) {
    __m512 acc[ROWS][NT];
    for (int i = 0; i < ROWS; ++i)
        for (int n = 0; n < NT; ++n) acc[i][n] = _mm512_setzero_ps();
    int64_t c = 0;
    // Prefetch the next row group, spread over this group's loop (rows are contiguous, so that
    // is ROWS * 16 weights per step): the hardware prefetcher alone leaves a core short of its
    // streaming bandwidth.
    const char* ahead = (const char*)(w + (r + ROWS) * C);
    for (; c + 16 <= C; c += 16) {
        for (int j = 0; j < ROWS * 16 * (int)sizeof(T); j += 64)
            _mm_prefetch(ahead + c * ROWS * (int64_t)sizeof(T) + j, _MM_HINT_T0);
        __m512 xv[NT];
        for (int n = 0; n < NT; ++n) xv[n] = _mm512_loadu_ps(x + n * ldx + c);
        for (int i = 0; i < ROWS; ++i) {
            const __m512 wv = LOAD(w + (r + i) * C + c);
            for (int n = 0; n < NT; ++n) acc[i][n] = _mm512_fmadd_ps(wv, xv[n], acc[i][n]);
        }
    }
    for (int i = 0; i < ROWS; ++i)
        for (int n = 0; n < NT; ++n) {
            float sum = _mm512_reduce_add_ps(acc[i][n]);
            for (int64_t t = c; t < C; ++t) {
                uint32_t bits;
                float wt;
                if (sizeof(T) == 2) {
                    bits = (uint32_t)((const uint16_t*)w)[(r + i) * C + t] << 16;
                    memcpy(&wt, &bits, 4);
                } else {
                    wt = ((const float*)w)[(r + i) * C + t];
                }
                sum += wt * x[n * ldx + t];
            }
            y[n * ldy + r + i] = sum;
        }
}

#elif defined(__AVX2__)

// ---------------------------------------------------------------- AVX2: 8 floats a vector
inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

template <int ROWS, int NT>
inline void mxfp4_rows(const uint8_t* blocks, const uint8_t* scales, int64_t nb, const float* xs,
                       int64_t ldx, float* y, int64_t ldy, int64_t r) {
    // vpermps on 8 lanes reads 3 index bits: look up the magnitude, then move the code's sign
    // bit (bit 3 of each nibble) into the float's sign bit.
    const __m256 mag = _mm256_loadu_ps(kFp4Values);
    const __m256i sign = _mm256_set1_epi32((int)0x80000000u);
    __m256 acc[ROWS][NT];
    for (int i = 0; i < ROWS; ++i)
        for (int n = 0; n < NT; ++n) acc[i][n] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        for (int h = 0; h < 2; ++h) {  // bytes 8h..8h+7 of the block
            __m256 xe[NT], xo[NT];
            for (int n = 0; n < NT; ++n) {
                xe[n] = _mm256_loadu_ps(xs + n * ldx + b * 32 + 8 * h);
                xo[n] = _mm256_loadu_ps(xs + n * ldx + b * 32 + 16 + 8 * h);
            }
            for (int i = 0; i < ROWS; ++i) {
                const uint8_t* p = blocks + ((r + i) * nb + b) * 16 + 8 * h;
                const __m256i codes = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i*)p));
                const __m256i hi_codes = _mm256_srli_epi32(codes, 4);
                __m256 lo = _mm256_permutevar8x32_ps(mag, codes);
                __m256 hi = _mm256_permutevar8x32_ps(mag, hi_codes);
                lo = _mm256_xor_ps(lo, _mm256_castsi256_ps(_mm256_and_si256(_mm256_slli_epi32(codes, 28), sign)));
                hi = _mm256_xor_ps(hi, _mm256_castsi256_ps(_mm256_and_si256(_mm256_slli_epi32(codes, 24), sign)));
                const __m256 s = _mm256_set1_ps(gk_scale_lut[scales[(r + i) * nb + b]]);
                lo = _mm256_mul_ps(lo, s);
                hi = _mm256_mul_ps(hi, s);
                for (int n = 0; n < NT; ++n) {
                    acc[i][n] = _mm256_fmadd_ps(lo, xe[n], acc[i][n]);
                    acc[i][n] = _mm256_fmadd_ps(hi, xo[n], acc[i][n]);
                }
            }
        }
    }
    for (int i = 0; i < ROWS; ++i)
        for (int n = 0; n < NT; ++n) y[n * ldy + r + i] = hsum256(acc[i][n]);
}

inline __m256 load8_bf16(const uint16_t* p) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}
inline __m256 load8_f32(const float* p) { return _mm256_loadu_ps(p); }

template <int ROWS, int NT, typename T, __m256 (*LOAD)(const T*)>
inline void dense_rows(const T* w, int64_t C, const float* x, int64_t ldx, float* y, int64_t ldy,
                       int64_t r) {
    __m256 acc[ROWS][NT];
    for (int i = 0; i < ROWS; ++i)
        for (int n = 0; n < NT; ++n) acc[i][n] = _mm256_setzero_ps();
    int64_t c = 0;
    for (; c + 8 <= C; c += 8) {
        __m256 xv[NT];
        for (int n = 0; n < NT; ++n) xv[n] = _mm256_loadu_ps(x + n * ldx + c);
        for (int i = 0; i < ROWS; ++i) {
            const __m256 wv = LOAD(w + (r + i) * C + c);
            for (int n = 0; n < NT; ++n) acc[i][n] = _mm256_fmadd_ps(wv, xv[n], acc[i][n]);
        }
    }
    for (int i = 0; i < ROWS; ++i)
        for (int n = 0; n < NT; ++n) {
            float sum = hsum256(acc[i][n]);
            for (int64_t t = c; t < C; ++t) {
                uint32_t bits;
                float wt;
                if (sizeof(T) == 2) {
                    bits = (uint32_t)((const uint16_t*)w)[(r + i) * C + t] << 16;
                    memcpy(&wt, &bits, 4);
                } else {
                    wt = ((const float*)w)[(r + i) * C + t];
                }
                sum += wt * x[n * ldx + t];
            }
            y[n * ldy + r + i] = sum;
        }
}

#else

// ---------------------------------------------------------------- scalar reference for old CPUs
template <int ROWS, int NT>
inline void mxfp4_rows(const uint8_t* blocks, const uint8_t* scales, int64_t nb, const float* xs,
                       int64_t ldx, float* y, int64_t ldy, int64_t r) {
    for (int i = 0; i < ROWS; ++i)
        for (int n = 0; n < NT; ++n) {
            const float* xn = xs + n * ldx;
            float acc = 0.0f;
            for (int64_t b = 0; b < nb; ++b) {
                const uint8_t* p = blocks + ((r + i) * nb + b) * 16;
                float part = 0.0f;
                for (int j = 0; j < 16; ++j)
                    part += kFp4Values[p[j] & 15] * xn[b * 32 + j] + kFp4Values[p[j] >> 4] * xn[b * 32 + 16 + j];
                acc += part * gk_scale_lut[scales[(r + i) * nb + b]];
            }
            y[n * ldy + r + i] = acc;
        }
}

inline float load1_bf16(const uint16_t* p) { return bf16_to_float(*p); }
inline float load1_f32(const float* p) { return *p; }

template <int ROWS, int NT, typename T, float (*LOAD)(const T*)>
inline void dense_rows(const T* w, int64_t C, const float* x, int64_t ldx, float* y, int64_t ldy,
                       int64_t r) {
    for (int i = 0; i < ROWS; ++i)
        for (int n = 0; n < NT; ++n) {
            float acc = 0.0f;
            for (int64_t c = 0; c < C; ++c) acc += LOAD(w + (r + i) * C + c) * x[n * ldx + c];
            y[n * ldy + r + i] = acc;
        }
}

#endif

// Walk rows [r0, r1) in groups of kRows (then singles) and tokens in groups (for_token_groups).
template <int ROWS>
void mxfp4_rows_any_tokens(const uint8_t* blocks, const uint8_t* scales, int64_t nb, const float* xs,
                           int64_t ldx, int64_t N, float* y, int64_t ldy, int64_t r) {
    for_token_groups(N, [&](auto nt, int64_t n0) {
        mxfp4_rows<ROWS, decltype(nt)::value>(blocks, scales, nb, xs + n0 * ldx, ldx, y + n0 * ldy, ldy, r);
    });
}

void mxfp4_tile(const uint8_t* blocks, const uint8_t* scales, int64_t nb, const float* xs, int64_t ldx,
                int64_t N, float* y, int64_t ldy, int64_t r0, int64_t r1) {
    int64_t r = r0;
    for (; r + kRows <= r1; r += kRows) mxfp4_rows_any_tokens<kRows>(blocks, scales, nb, xs, ldx, N, y, ldy, r);
    for (; r < r1; ++r) mxfp4_rows_any_tokens<1>(blocks, scales, nb, xs, ldx, N, y, ldy, r);
}

#if defined(__AVX512F__)
#define GK_LOAD_BF16 load16_bf16
#define GK_LOAD_F32 load16_f32
#elif defined(__AVX2__)
#define GK_LOAD_BF16 load8_bf16
#define GK_LOAD_F32 load8_f32
#else
#define GK_LOAD_BF16 load1_bf16
#define GK_LOAD_F32 load1_f32
#endif

template <int ROWS, typename T, auto LOAD>
void dense_rows_any_tokens(const T* w, int64_t C, const float* x, int64_t ldx, int64_t N, float* y,
                           int64_t ldy, int64_t r) {
    for_token_groups(N, [&](auto nt, int64_t n0) {
        dense_rows<ROWS, decltype(nt)::value, T, LOAD>(w, C, x + n0 * ldx, ldx, y + n0 * ldy, ldy, r);
    });
}

void bf16_tile(const uint16_t* w, int64_t C, const float* x, int64_t ldx, int64_t N, float* y, int64_t ldy,
               int64_t r0, int64_t r1) {
    int64_t r = r0;
    for (; r + kRows <= r1; r += kRows) dense_rows_any_tokens<kRows, uint16_t, GK_LOAD_BF16>(w, C, x, ldx, N, y, ldy, r);
    for (; r < r1; ++r) dense_rows_any_tokens<1, uint16_t, GK_LOAD_BF16>(w, C, x, ldx, N, y, ldy, r);
}

void f32_tile(const float* w, int64_t C, const float* x, int64_t ldx, int64_t N, float* y, int64_t ldy,
              int64_t r0, int64_t r1) {
    int64_t r = r0;
    for (; r + kRows <= r1; r += kRows) dense_rows_any_tokens<kRows, float, GK_LOAD_F32>(w, C, x, ldx, N, y, ldy, r);
    for (; r < r1; ++r) dense_rows_any_tokens<1, float, GK_LOAD_F32>(w, C, x, ldx, N, y, ldy, r);
}

}  // namespace

extern "C" IsaKernels GK_FN(gk_kernels)(void) {
    IsaKernels k;
    k.mxfp4_tile = mxfp4_tile;
    k.bf16_tile = bf16_tile;
    k.f32_tile = f32_tile;
    k.attention_heads = GK_FN(gk_attention_heads);
    return k;
}
