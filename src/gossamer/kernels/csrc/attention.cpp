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
void attend_group(const float* q, const T* k, const T* v, const int32_t* rows, int64_t M, int64_t KV, int64_t D,
                  int64_t g, int64_t group, const float* sinks, float scale, float* out, float* scores, float* row) {
    // q: [group, D] rows of this KV head's query heads; out: [group, D]; key j is cache row rows[j].
    for (int64_t j = 0; j < M; ++j) {
        const T* kj = k + ((int64_t)rows[j] * KV + g) * D;
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
        const T* vj = v + ((int64_t)rows[j] * KV + g) * D;
        for (int64_t d = 0; d < D; ++d) row[d] = to_f32(vj[d]);
        for (int64_t h = 0; h < group; ++h) {
            const float p = scores[h * M + j];
            for (int64_t d = 0; d < D; ++d) out[h * D + d] += p * row[d];
        }
    }
}

}  // namespace

// One KV head g: q [group, D] f32 (the query heads reading it), cache k/v [rows, KV, D] (kv_dtype
// 1 f32 / 2 bf16), key j at cache row rows[j], sinks [group] f32 -> out [group, D] f32.
extern "C" void GK_FN(gk_attention_heads)(const float* q, const void* k, const void* v, int kv_dtype,
                                          const int32_t* rows, int64_t M, int64_t KV, int64_t D, int64_t g,
                                          int64_t group, const float* sinks, float scale, float* out) {
    thread_local std::vector<float> scores, row;
    if ((int64_t)scores.size() < group * M) scores.resize((size_t)(group * M));
    if ((int64_t)row.size() < D) row.resize((size_t)D);
    if (kv_dtype == 2)
        attend_group(q, (const uint16_t*)k, (const uint16_t*)v, rows, M, KV, D, g, group, sinks, scale, out,
                     scores.data(), row.data());
    else
        attend_group(q, (const float*)k, (const float*)v, rows, M, KV, D, g, group, sinks, scale, out,
                     scores.data(), row.data());
}
