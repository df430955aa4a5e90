// Helpers shared by the fused blocks (moe_block.cpp, qkv_block.cpp): bf16 rounding as torch does
// it, and the model's RMSNorm.
#pragma once

#include <math.h>
#include <stdint.h>
#include <string.h>

inline float bf16_to_float(uint16_t bits) {
    const uint32_t u = (uint32_t)bits << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

// Round to nearest even, as torch's .to(torch.bfloat16) does (NaN stays NaN).
inline uint16_t float_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

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

extern "C" int gk_linear(const void* w, int w_dtype, const void* bias, int bias_dtype, int64_t R, int64_t C,
                         const void* x, int x_dtype, int64_t N, float* y, int num_threads);
