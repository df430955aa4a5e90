// Decode attention over a bf16 KV cache with AVX512-BF16 (the path of bf16 models on CPUs that
// have it; attention.cpp is the general one).
//
// Why: the general kernel reduces every query-key dot product horizontally on its own, about
// fifty cycles per (key, head) pair; at a 512-token context that was 10 ms of a 20b decode step.
// Here vdpbf16ps takes 32 dimensions of a key per instruction (the query is bf16 already: the
// model's q, widened by the caller), and the partial sums of 16 keys are reduced together by a
// transpose-add (45 instructions for 16 dot products instead of about 8 each). The value pass
// accumulates in float32 from widened bf16 rows, as the torch path does.
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include <vector>

#include "attention_common.h"
#include "kernels.h"

namespace {

constexpr int kMaxGroup = 16;  // query heads per KV head
constexpr int kMaxChunks = 8;  // head_dim / 32

// v[i] = 16-lane partial sums of dot product i -> lane i = its total.
inline __m512 reduce16(__m512 (&v)[16]) {
    __m512 t[8], u[4];
    for (int i = 0; i < 8; ++i)
        t[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
    for (int i = 0; i < 4; ++i) {  // per 128-bit lane: [sum a, sum b, sum c, sum d] of 4 vectors
        const __m512d a = _mm512_castps_pd(t[2 * i]), b = _mm512_castps_pd(t[2 * i + 1]);
        u[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)), _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
    }
    // Add the four 128-bit lanes of each u: lane i of the result holds vector i's total.
    const __m512 x01 = _mm512_add_ps(_mm512_shuffle_f32x4(u[0], u[1], 0x88), _mm512_shuffle_f32x4(u[0], u[1], 0xDD));
    const __m512 x23 = _mm512_add_ps(_mm512_shuffle_f32x4(u[2], u[3], 0x88), _mm512_shuffle_f32x4(u[2], u[3], 0xDD));
    return _mm512_add_ps(_mm512_shuffle_f32x4(x01, x23, 0x88), _mm512_shuffle_f32x4(x01, x23, 0xDD));
}

// Scores of one query head (chunks of 32 dims in qb) against keys [j0, j0 + 16) (key j at cache
// row rows[j]).
inline __m512 scores16(const __m512bh* qb, int chunks, const uint16_t* k, const int32_t* rows, int64_t stride,
                       int64_t j0) {
    __m512 part[16];
    for (int j = 0; j < 16; ++j) {
        const uint16_t* kj = k + (int64_t)rows[j0 + j] * stride;
        __m512 a = _mm512_setzero_ps();
        for (int c = 0; c < chunks; ++c)
            a = _mm512_dpbf16_ps(a, qb[c], (__m512bh)_mm512_loadu_si512((const void*)(kj + 32 * c)));
        part[j] = a;
    }
    return reduce16(part);
}

inline __m512 widen_bf16(const uint16_t* p) {  // 16 bf16 -> 16 float32
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i*)p)), 16));
}

void attend_group(const float* q, const uint16_t* k, const uint16_t* v, const int32_t* rows, int64_t M, int64_t KV,
                  int64_t D, int64_t g, int64_t group, const float* sinks, float scale, float* out, float* scores) {
    const int chunks = (int)(D / 32);
    const int64_t stride = KV * D;
    const uint16_t* kg = k + g * D;
    const uint16_t* vg = v + g * D;
    for (int64_t h = 0; h < group; ++h) {
        alignas(64) uint16_t qh[32 * kMaxChunks];
        for (int64_t d = 0; d < D; ++d) qh[d] = float_to_bf16(q[h * D + d]);  // exact: q was bf16
        __m512bh qb[kMaxChunks];
        for (int c = 0; c < chunks; ++c) qb[c] = (__m512bh)_mm512_load_si512((const void*)(qh + 32 * c));
        float* s = scores + h * M;
        int64_t j = 0;
        for (; j + 16 <= M; j += 16)
            _mm512_storeu_ps(s + j, _mm512_mul_ps(scores16(qb, chunks, kg, rows, stride, j), _mm512_set1_ps(scale)));
        for (; j < M; ++j) {  // the last few keys one by one
            __m512 a = _mm512_setzero_ps();
            for (int c = 0; c < chunks; ++c)
                a = _mm512_dpbf16_ps(a, qb[c], (__m512bh)_mm512_loadu_si512((const void*)(kg + (int64_t)rows[j] * stride + 32 * c)));
            s[j] = _mm512_reduce_add_ps(a) * scale;
        }
        softmax_with_sink(s, M, sinks[h]);
    }
    // out[h] = sum_j p[h, j] v[j], 16 dimensions at a time for every head of the group.
    for (int64_t d0 = 0; d0 < D; d0 += 16) {
        __m512 acc[kMaxGroup];
        for (int64_t h = 0; h < group; ++h) acc[h] = _mm512_setzero_ps();
        for (int64_t j = 0; j < M; ++j) {
            const __m512 vj = widen_bf16(vg + (int64_t)rows[j] * stride + d0);
            for (int64_t h = 0; h < group; ++h) acc[h] = _mm512_fmadd_ps(_mm512_set1_ps(scores[h * M + j]), vj, acc[h]);
        }
        for (int64_t h = 0; h < group; ++h) _mm512_storeu_ps(out + h * D + d0, acc[h]);
    }
}

}  // namespace

// Whether gk_attention_heads_bf16dp takes this shape.
extern "C" bool gk_attention_bf16dp_fits(int64_t H, int64_t KV, int64_t D) {
    return KV > 0 && H % KV == 0 && H / KV <= kMaxGroup && D % 32 == 0 && D / 32 <= kMaxChunks;
}

// One KV head g: q [group, D] f32 holding bf16 values, cache k/v [rows, KV, D] bf16, key j at cache
// row rows[j], sinks [group] f32 -> out [group, D] f32.
extern "C" void gk_attention_heads_bf16dp(const float* q, const void* k, const void* v, int, const int32_t* rows,
                                          int64_t M, int64_t KV, int64_t D, int64_t g, int64_t group,
                                          const float* sinks, float scale, float* out) {
    thread_local std::vector<float> scores;
    if ((int64_t)scores.size() < group * M) scores.resize((size_t)(group * M));
    attend_group(q, (const uint16_t*)k, (const uint16_t*)v, rows, M, KV, D, g, group, sinks, scale, out,
                 scores.data());
}
