// The input side of a bf16 attention block in one call: RMSNorm, the fused qkv projection with
// its bias, and RoPE on q and k, each rounded to bf16 where gossamer/model/gpt_oss.py rounds
// (after the norm, after the projection, after the rotation). What follows (the KV cache and the
// attention itself) belongs to the backend, so it stays outside.
//
// Why: those steps are about twenty small torch operations per layer in Python.
#include <stdint.h>

#include <vector>

#include "block_common.h"

constexpr int64_t kMaxHeadDim = 512;

extern "C" {

// x [N, H] float32 residual stream; w [Q + 2K, H] bf16 and b [Q + 2K] bf16 with Q = heads * D,
// K = kv_heads * D; cos, sin [N, D/2] float32 (the concentration applied). Writes q [N, heads, D],
// k and v [N, kv_heads, D] as bf16. NeoX rotation: dimension i pairs with i + D/2.
int gk_qkv_block_bf16(const float* x, int64_t N, int64_t H, const float* norm_scale, float eps, const uint16_t* w,
                      const uint16_t* b, int64_t heads, int64_t kv_heads, int64_t D, const float* cos,
                      const float* sin, uint16_t* q, uint16_t* k, uint16_t* v, int num_threads) {
    if (N <= 0 || H <= 0 || heads <= 0 || kv_heads <= 0 || D <= 0 || D % 2 || D > kMaxHeadDim) return -1;
    const int64_t R = (heads + 2 * kv_heads) * D, half = D / 2;
    std::vector<uint16_t> t((size_t)(N * H));
    rms_norm_to_bf16(x, N, H, norm_scale, eps, t.data(), num_threads);
    std::vector<float> y((size_t)(N * R));
    const int rc = gk_linear(w, 2, b, 2, R, H, t.data(), 2, N, y.data(), num_threads);
    if (rc != 0) return rc;
    for (int64_t n = 0; n < N; ++n) {
        const float* yn = y.data() + n * R;
        const float* cn = cos + n * half;
        const float* sn = sin + n * half;
        for (int64_t h = 0; h < heads + kv_heads; ++h) {
            uint16_t* out = h < heads ? q + (n * heads + h) * D : k + (n * kv_heads + h - heads) * D;
            float rounded[kMaxHeadDim];  // the projection's bf16 output, as the rotation reads it
            for (int64_t i = 0; i < D; ++i) rounded[i] = bf16_to_float(float_to_bf16(yn[h * D + i]));
            for (int64_t i = 0; i < half; ++i) {
                const float first = rounded[i], second = rounded[i + half];
                out[i] = float_to_bf16(first * cn[i] - second * sn[i]);
                out[i + half] = float_to_bf16(second * cn[i] + first * sn[i]);
            }
        }
        for (int64_t i = 0; i < kv_heads * D; ++i)
            v[n * kv_heads * D + i] = float_to_bf16(yn[(heads + kv_heads) * D + i]);
    }
    return 0;
}

}  // extern "C"
