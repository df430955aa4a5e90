// The softmax of decode attention with gpt-oss's sink, shared by the attention kernels
// (attention.cpp, compiled per instruction set, and attention_bf16.cpp).
#pragma once

#include <math.h>
#include <stdint.h>
#include <string.h>

namespace {

// exp(x) for x <= 0 (scores minus their maximum) in plain arithmetic the compiler vectorizes:
// x = n ln2 + r with |r| <= ln2/2, exp(r) by its Taylor series to degree 7 (relative error
// under 1e-8 there), 2^n written into the exponent bits. Below -87 the result flushes to 0.
inline float exp_nonpositive(float x) {
    x = x < -87.0f ? -87.0f : x;
    const float n = floorf(x * 1.44269504088896341f + 0.5f);
    const float r = x - n * 0.693359375f + n * 2.12194440e-4f;  // ln2 split in two: exact n * hi
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    return p * scale;
}

// Scores s [M] -> probabilities, in place; the sink joins the denominator (a logit in its own
// right: not scaled) but has no value row.
inline void softmax_with_sink(float* s, int64_t M, float sink) {
    float m = sink;
    for (int64_t j = 0; j < M; ++j) m = s[j] > m ? s[j] : m;
    float denom = exp_nonpositive(sink - m);
    // Vectorized: a libm expf call per score would not be.
#pragma omp simd reduction(+ : denom)
    for (int64_t j = 0; j < M; ++j) {
        s[j] = exp_nonpositive(s[j] - m);
        denom += s[j];
    }
    const float inv = 1.0f / denom;
    for (int64_t j = 0; j < M; ++j) s[j] *= inv;
}

}  // namespace
