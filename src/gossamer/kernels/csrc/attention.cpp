// Attention with sinks for one query token over a window of cached keys (decode).
//
// gpt-oss adds one learned logit per head to the softmax denominator (a column with no value
// vector). The caller passes only the visible keys (the sliding window already applied), so
// the kernel is a plain two-pass softmax: scores for every key, then the weighted sum of values.
// The query heads sharing a KV head are processed together, so each cached key and value row
// is read once per KV head. Written as plain loops over head_dim that the compiler vectorizes;
// the file is compiled once per instruction set like isa_kernels.cpp.
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <vector>

#include "attention_common.h"
#include "kernels.h"

#define GK_CAT2(a, b) a##_##b
#define GK_CAT(a, b) GK_CAT2(a, b)
#define GK_FN(name) GK_CAT(name, GK_ISA)

namespace {

template <typename T>
inline float to_f32(T v) {
    if constexpr (sizeof(T) == 2)
        return bf16_to_float(v);
    else
        return v;
}

template <typename T>
void attend_group(const float* q, const T* k, const T* v, int64_t M, int64_t KV, int64_t D, int64_t g,
                  int64_t group, const float* sinks, float scale, float* out, float* scores, float* row) {
    // q: [group, D] rows of this KV head's query heads; out: [group, D].
    for (int64_t j = 0; j < M; ++j) {
        const T* kj = k + (j * KV + g) * D;
        for (int64_t d = 0; d < D; ++d) row[d] = to_f32(kj[d]);
        for (int64_t h = 0; h < group; ++h) {
            float dot = 0.0f;
            // Without the pragma the compiler keeps the sum scalar (no reassociation of float adds).
#pragma omp simd reduction(+ : dot)
            for (int64_t d = 0; d < D; ++d) dot += q[h * D + d] * row[d];
            scores[h * M + j] = dot * scale;
        }
    }
    for (int64_t h = 0; h < group; ++h) softmax_with_sink(scores + h * M, M, sinks[h]);
    for (int64_t i = 0; i < group * D; ++i) out[i] = 0.0f;
    for (int64_t j = 0; j < M; ++j) {
        const T* vj = v + (j * KV + g) * D;
        for (int64_t d = 0; d < D; ++d) row[d] = to_f32(vj[d]);
        for (int64_t h = 0; h < group; ++h) {
            const float p = scores[h * M + j];
            for (int64_t d = 0; d < D; ++d) out[h * D + d] += p * row[d];
        }
    }
}

}  // namespace

// q [H, D] f32, k/v [M, KV, D] (kv_dtype 1 f32 / 2 bf16), sinks [H] f32, out [H, D] f32;
// runs KV heads [g0, g1).
extern "C" void GK_FN(gk_attention_heads)(const float* q, const void* k, const void* v, int kv_dtype, int64_t M,
                                          int64_t H, int64_t KV, int64_t D, const float* sinks, float scale,
                                          float* out, int64_t g0, int64_t g1) {
    const int64_t group = H / KV;
    std::vector<float> scores((size_t)(group * M));
    std::vector<float> row((size_t)D);
    for (int64_t g = g0; g < g1; ++g) {
        const float* qg = q + g * group * D;
        float* og = out + g * group * D;
        if (kv_dtype == 2)
            attend_group((const float*)qg, (const uint16_t*)k, (const uint16_t*)v, M, KV, D, g, group,
                         sinks + g * group, scale, og, scores.data(), row.data());
        else
            attend_group((const float*)qg, (const float*)k, (const float*)v, M, KV, D, g, group, sinks + g * group,
                         scale, og, scores.data(), row.data());
    }
}
