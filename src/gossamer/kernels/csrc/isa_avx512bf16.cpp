// MXFP4 experts times many bf16 tokens (prefill), and dense bf16 rows times few bf16 tokens
// (decode), with AVX512-BF16 dot products.
//
// A group of rows is decoded once into scaled bf16 (exact: an E2M1 value times a power of two
// has 3 significant bits) in a small per-thread buffer, then every token's activations stream
// past it through vdpbf16ps (32 multiply-adds per instruction, float32 accumulation). With bf16
// activations this computes exactly what the torch bf16 path computes, in float32, without ever
// expanding more than ROWS rows of one expert. Compiled with -mavx512bf16 and called only when
// cpuid reports it.
#include <immintrin.h>

#include <string.h>

#include <vector>

#include "kernels.h"

namespace {

constexpr int kRows = 4;

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

// bf16 rows times bf16 tokens through vdpbf16ps, 32 products per instruction with float32
// accumulation: rows [r, r + ROWS) of a matrix whose row r starts at `rows` (C columns, a multiple
// of 32). With bf16 activations (the model's own) this is exact. PREFETCH pulls the next row
// group in as this one is consumed: worth it when the rows stream from memory (dense weights),
// not for a row group just decoded into L1.
template <int ROWS, int NT, bool PREFETCH>
inline void bf16_rows(const uint16_t* rows, int64_t C, const uint16_t* x, int64_t ldx, float* y, int64_t ldy,
                      int64_t r) {
    __m512 acc[ROWS][NT];
    for (int i = 0; i < ROWS; ++i)
        for (int n = 0; n < NT; ++n) acc[i][n] = _mm512_setzero_ps();
    const char* ahead = (const char*)(rows + ROWS * C);
    for (int64_t c = 0; c < C; c += 32) {
        if (PREFETCH)
            for (int j = 0; j < ROWS * 64; j += 64) _mm_prefetch(ahead + c * ROWS * 2 + j, _MM_HINT_T0);
        __m512bh xv[NT];
        for (int n = 0; n < NT; ++n) xv[n] = (__m512bh)_mm512_loadu_si512((const void*)(x + n * ldx + c));
        for (int i = 0; i < ROWS; ++i) {
            const __m512bh wv = (__m512bh)_mm512_loadu_si512((const void*)(rows + i * C + c));
            for (int n = 0; n < NT; ++n) acc[i][n] = _mm512_dpbf16_ps(acc[i][n], wv, xv[n]);
        }
    }
    for (int i = 0; i < ROWS; ++i)
        for (int n = 0; n < NT; ++n) y[n * ldy + r + i] = _mm512_reduce_add_ps(acc[i][n]);
}

template <int ROWS, bool PREFETCH>
void bf16_rows_any_tokens(const uint16_t* rows, int64_t C, const uint16_t* x, int64_t ldx, int64_t N, float* y,
                          int64_t ldy, int64_t r) {
    for_token_groups(N, [&](auto nt, int64_t n0) {
        bf16_rows<ROWS, decltype(nt)::value, PREFETCH>(rows, C, x + n0 * ldx, ldx, y + n0 * ldy, ldy, r);
    });
}


// ---------------------------------------------------------------- decode: 1 to 3 tokens
// Here decoding dominates (each weight is used once or twice), so it is done in the bf16
// domain, two blocks per step: 32 code bytes widen to 32 words, each nibble indexes a 32-entry
// bf16 table holding both blocks' 16 values already scaled (the E8M0 scale is added to the
// exponent field: exact while the result stays a normal number, i.e. for scales 2..252, which
// the caller checks). vdpbf16ps then multiplies with bf16 activations and accumulates float32.
// Table word 2c + k holds code c of block k (k = 0 for the first block of the pair), so one
// dword broadcast of the two exponent offsets lines up with it.
constexpr uint16_t kFp4Bf16[16] = {0x0000, 0x3F00, 0x3F80, 0x3FC0, 0x4000, 0x4040, 0x4080, 0x40C0,
                                   0x8000, 0xBF00, 0xBF80, 0xBFC0, 0xC000, 0xC040, 0xC080, 0xC0C0};
constexpr int64_t kMaxBlocks = 1024;  // rows of up to 32768 values (gpt-oss: 90 or 180 blocks)
constexpr __mmask32 kNonzeroCodes = 0xFFFCFFFCu;  // table words of codes 0 and 8 (+0, -0) stay zero

inline bool scales_in_exact_range(const uint8_t* scales, int64_t n) {
    uint8_t lo = 255, hi = 0;
    for (int64_t i = 0; i < n; ++i) {
        lo = scales[i] < lo ? scales[i] : lo;
        hi = scales[i] > hi ? scales[i] : hi;
    }
    return lo >= 2 && hi <= 252;
}

template <int ROWS, int NT>
inline void decode_rows_bf16(const uint8_t* blocks, const uint8_t* scales, int64_t nb, const uint16_t* xp,
                             int64_t ldx, float* y, int64_t ldy, int64_t r) {
    alignas(64) uint16_t base_words[32];
    for (int c = 0; c < 16; ++c) base_words[2 * c] = base_words[2 * c + 1] = kFp4Bf16[c];
    const __m512i base = _mm512_load_si512(base_words);
    const __m512i low4x2 = _mm512_set1_epi16(0x1E);
    // Block select bit: words 16..31 of the pair come from the second block.
    const __m512i second = _mm512_set_epi64(0x0001000100010001LL, 0x0001000100010001LL, 0x0001000100010001LL,
                                            0x0001000100010001LL, 0, 0, 0, 0);
    // Each row's scale bytes as exponent offsets, (s - 127) << 7 per 16-bit word, so that the
    // dword at word b holds the offsets of blocks b and b + 1 side by side: one broadcast load
    // per pair instead of scalar arithmetic.
    alignas(64) int16_t offsets[ROWS][kMaxBlocks];
    for (int i = 0; i < ROWS; ++i) {
        const uint8_t* sp = scales + (r + i) * nb;
        int64_t b = 0;
        for (; b + 32 <= nb; b += 32) {
            const __m512i s16 = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i*)(sp + b)));
            const __m512i offset = _mm512_slli_epi16(_mm512_sub_epi16(s16, _mm512_set1_epi16(127)), 7);
            _mm512_store_si512((void*)(offsets[i] + b), offset);
        }
        for (; b < nb; ++b) offsets[i][b] = (int16_t)(((int32_t)sp[b] - 127) << 7);
    }
    __m512 acc[ROWS][NT];
    for (int i = 0; i < ROWS; ++i)
        for (int n = 0; n < NT; ++n) acc[i][n] = _mm512_setzero_ps();
    // Prefetch the next row group while this one computes, spread evenly over the loop (rows
    // are contiguous: ROWS * 32 code bytes per pair of blocks). The hardware prefetcher alone
    // leaves one core streaming at under half its bandwidth here (7.3 -> 16.4 GB/s measured).
    const char* ahead = (const char*)(blocks + (r + ROWS) * nb * 16);
    const char* ahead_scales = (const char*)(scales + (r + ROWS) * nb);
    for (int64_t b = 0; b < nb; b += 2) {
        for (int j = 0; j < ROWS * 32; j += 64) _mm_prefetch(ahead + b * ROWS * 16 + j, _MM_HINT_T0);
        if ((b & 31) == 0) _mm_prefetch(ahead_scales + b * ROWS, _MM_HINT_T0);
        __m512bh xlo[NT], xhi[NT];
        for (int n = 0; n < NT; ++n) {
            xlo[n] = (__m512bh)_mm512_loadu_si512((const void*)(xp + n * ldx + b * 32));
            xhi[n] = (__m512bh)_mm512_loadu_si512((const void*)(xp + n * ldx + b * 32 + 32));
        }
        for (int i = 0; i < ROWS; ++i) {
            const uint8_t* p = blocks + ((r + i) * nb + b) * 16;
            const __m512i w = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i*)p));  // word j = byte j
            // index = 2 * nibble + block: (w << 1) & 0x1E | second, and (w >> 3) & 0x1E | second
            const __m512i lo_idx = _mm512_ternarylogic_epi32(_mm512_slli_epi16(w, 1), low4x2, second, 0xEA);
            const __m512i hi_idx = _mm512_ternarylogic_epi32(_mm512_srli_epi16(w, 3), low4x2, second, 0xEA);
            int32_t pair;
            memcpy(&pair, offsets[i] + b, 4);
            const __m512i table = _mm512_mask_add_epi16(base, kNonzeroCodes, base, _mm512_set1_epi32(pair));
            const __m512bh lo = (__m512bh)_mm512_permutexvar_epi16(lo_idx, table);
            const __m512bh hi = (__m512bh)_mm512_permutexvar_epi16(hi_idx, table);
            for (int n = 0; n < NT; ++n) {
                acc[i][n] = _mm512_dpbf16_ps(acc[i][n], lo, xlo[n]);
                acc[i][n] = _mm512_dpbf16_ps(acc[i][n], hi, xhi[n]);
            }
        }
    }
    for (int i = 0; i < ROWS; ++i)
        for (int n = 0; n < NT; ++n) y[n * ldy + r + i] = _mm512_reduce_add_ps(acc[i][n]);
}

template <int ROWS>
inline void decode_rows_any_tokens(const uint8_t* blocks, const uint8_t* scales, int64_t nb, const uint16_t* xp,
                                   int64_t ldx, int64_t N, float* y, int64_t ldy, int64_t r) {
    switch (N) {
        case 1: decode_rows_bf16<ROWS, 1>(blocks, scales, nb, xp, ldx, y, ldy, r); break;
        case 2: decode_rows_bf16<ROWS, 2>(blocks, scales, nb, xp, ldx, y, ldy, r); break;
        default: decode_rows_bf16<ROWS, 3>(blocks, scales, nb, xp, ldx, y, ldy, r); break;
    }
}


}  // namespace

// Many tokens: row groups of kRows outside (they stay in L1 while every token group passes),
// groups of kGemmTokens tokens inside: 4 x 6 accumulators, so each 32-column step loads 10 vectors
// for 24 dot products. Every output is still one accumulator over all of C in column order, then
// one horizontal sum: the same bits as the few-token path above, whatever N.
constexpr int kGemmTokens = 6;

template <int ROWS>
void gemm_rows(const uint16_t* rows, int64_t C, const uint16_t* x, int64_t ldx, int64_t N, float* y, int64_t ldy,
               int64_t r) {
    int64_t n0 = 0;
    for (; n0 + kGemmTokens <= N; n0 += kGemmTokens)
        bf16_rows<ROWS, kGemmTokens, false>(rows, C, x + n0 * ldx, ldx, y + n0 * ldy, ldy, r);
    if (n0 < N) bf16_rows_any_tokens<ROWS, false>(rows, C, x + n0 * ldx, ldx, N - n0, y + n0 * ldy, ldy, r);
}

extern "C" void gk_bf16_gemm_dp(const uint16_t* w, int64_t C, const uint16_t* x, int64_t ldx, int64_t N, float* y,
                                int64_t ldy, int64_t r0, int64_t r1) {
    int64_t r = r0;
    for (; r + kRows <= r1; r += kRows) gemm_rows<kRows>(w + r * C, C, x, ldx, N, y, ldy, r);
    for (; r < r1; ++r) gemm_rows<1>(w + r * C, C, x, ldx, N, y, ldy, r);
}

// Dense rows [r0, r1) of bf16 W [R, C] times N bf16 rows x [N, ldx]; C must be a multiple of 32.
extern "C" void gk_bf16_tile_dp(const uint16_t* w, int64_t C, const uint16_t* x, int64_t ldx, int64_t N, float* y,
                                int64_t ldy, int64_t r0, int64_t r1) {
    int64_t r = r0;
    for (; r + kRows <= r1; r += kRows) bf16_rows_any_tokens<kRows, true>(w + r * C, C, x, ldx, N, y, ldy, r);
    for (; r < r1; ++r) bf16_rows_any_tokens<1, true>(w + r * C, C, x, ldx, N, y, ldy, r);
}

extern "C" void gk_mxfp4_tile_bf16(const uint8_t* blocks, const uint8_t* scales, int64_t nb, const uint16_t* xs,
                                   int64_t ldx, int64_t N, float* y, int64_t ldy, int64_t r0, int64_t r1) {
    // Scratch for kRows decoded rows (23 KB at C = 2880: stays in L1), reused across calls.
    thread_local std::vector<uint16_t> w;
    if ((int64_t)w.size() < kRows * nb * 32) w.resize(kRows * nb * 32);
    int64_t r = r0;
    for (; r + kRows <= r1; r += kRows) {
        decode_rows(blocks, scales, nb, r, kRows, w.data());
        bf16_rows_any_tokens<kRows, false>(w.data(), nb * 32, xs, ldx, N, y, ldy, r);
    }
    for (; r < r1; ++r) {
        decode_rows(blocks, scales, nb, r, 1, w.data());
        bf16_rows_any_tokens<1, false>(w.data(), nb * 32, xs, ldx, N, y, ldy, r);
    }
}

// Rows [r0, r1) times 1..3 bf16 tokens. xp: per pair of blocks, the 32 even elements then the
// 32 odd ones (see gk_pair_layout). Requires an even number of blocks. Returns false, having
// done nothing, when a row group's scales fall outside the exact range (the caller then uses
// the float32 kernel for this tile).
extern "C" bool gk_mxfp4_tile_bf16_decode(const uint8_t* blocks, const uint8_t* scales, int64_t nb,
                                          const uint16_t* xp, int64_t ldx, int64_t N, float* y, int64_t ldy,
                                          int64_t r0, int64_t r1) {
    if (nb % 2 != 0 || nb > kMaxBlocks || N < 1 || N > 3 || !scales_in_exact_range(scales + r0 * nb, (r1 - r0) * nb)) return false;
    int64_t r = r0;
    for (; r + kRows <= r1; r += kRows) decode_rows_any_tokens<kRows>(blocks, scales, nb, xp, ldx, N, y, ldy, r);
    for (; r < r1; ++r) decode_rows_any_tokens<1>(blocks, scales, nb, xp, ldx, N, y, ldy, r);
    return true;
}
