// Helpers shared by the fused blocks (moe_block.cpp, qkv_block.cpp): the model's RMSNorm, and
// the kernel entry points they call.
#pragma once

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels.h"

// gossamer/model/norm.py in float32, rounded to bf16 (the dtype the products take):
// t [N, H] = bf16(x * rsqrt(mean(x^2) + eps) * scale).
inline void rms_norm_to_bf16(const float* x, int64_t N, int64_t H, const float* scale, float eps, uint16_t* t,
                             int num_threads) {
    const bool parallel = num_threads > 1 && N * H >= (1 << 16);  // prefill-sized; decode stays serial
#pragma omp parallel for num_threads(num_threads) if (parallel)
    for (int64_t n = 0; n < N; ++n) {
        const float* xn = x + n * H;
        float sum = 0.0f;
        for (int64_t c = 0; c < H; ++c) sum += xn[c] * xn[c];
        const float r = 1.0f / sqrtf(sum / (float)H + eps);
        for (int64_t c = 0; c < H; ++c) t[n * H + c] = float_to_bf16(xn[c] * r * scale[c]);
    }
}

extern "C" int gk_mxfp4_grouped(const uint8_t* blocks, const uint8_t* scales, const void* bias, int bias_dtype,
                                int64_t E, int64_t R, int64_t C, const int64_t* group_experts,
                                const int64_t* offsets, int64_t G, const void* x, int x_dtype, int64_t num_rows,
                                float* y, int num_threads);
extern "C" int gk_linear(const void* w, int w_dtype, const void* bias, int bias_dtype, int64_t R, int64_t C,
                         const void* x, int x_dtype, int64_t N, float* y, int num_threads);
