// One MoE block of a bf16 gpt-oss model in a single call: RMSNorm, router, top-k, softmax, the
// MXFP4 experts with clamped SwiGLU, and the router-weighted sum.
//
// Why: in Python the block is some thirty small torch operations per layer, which at decode cost
// more than a third of the experts' own time (about 0.3 ms per layer on two cores). The math and
// its roundings follow gossamer/model/moe.py step by step (the normed activations, the router
// logits and the SwiGLU output are rounded to bf16 where the torch path rounds them), and every
// token count goes through here, so prefill and decode agree.
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "block_common.h"

namespace {

constexpr float kSwigluAlpha = 1.702f;

}  // namespace

extern "C" {

// x [N, H] float32 residual stream -> update [N, H] float32 (the caller adds it).
//   norm_scale [H] f32; router_w [E, H] bf16, router_b [E] bf16
//   mlp1: blocks [E, 2I, H/32, 16], scales [E, 2I, H/32], bias [E, 2I] bf16 (gate even, linear odd)
//   mlp2: blocks [E, H, I/32, 16], scales [E, H, I/32], bias [E, H] bf16
// Returns 0, or the first failing kernel's code.
int gk_moe_block_bf16(const float* x, int64_t N, int64_t H, const float* norm_scale, float eps,
                      const uint16_t* router_w, const uint16_t* router_b, int64_t E, int64_t top_k,
                      const uint8_t* mlp1_blocks, const uint8_t* mlp1_scales, const uint16_t* mlp1_bias,
                      const uint8_t* mlp2_blocks, const uint8_t* mlp2_scales, const uint16_t* mlp2_bias,
                      int64_t I, float swiglu_limit, float* update, int num_threads) {
    if (N <= 0 || H <= 0 || E <= 0 || top_k <= 0 || top_k > E || I <= 0) return -1;
    std::vector<uint16_t> t((size_t)(N * H));  // RMSNorm, in bf16
    rms_norm_to_bf16(x, N, H, norm_scale, eps, t.data(), num_threads);
    const bool parallel = num_threads > 1 && N * H >= (1 << 16);  // prefill-sized; decode stays serial
    // The experts' products are 3 * I * H multiply-adds per slot: a block too small to split them
    // keeps its SwiGLU on one thread too.
    const bool parallel_slots = num_threads > 1 && N * top_k * 3 * I * H >= kMinParallelWork;
    // Router logits, rounded to bf16 like the projection they replace; softmax over the top k in
    // float32. Equal bf16 logits are common (8 significant bits), so ties must fall as torch.topk
    // lets them fall: the same selection (nth_element at k - 1, then sort the k - 1 before it;
    // partial_sort when k * 64 <= E) with the same value-only comparison, NaN first.
    std::vector<float> logits((size_t)(N * E));
    int rc = gk_linear(router_w, 2, router_b, 2, E, H, t.data(), 2, N, logits.data(), num_threads);
    if (rc != 0) return rc;
    const int64_t slots = N * top_k;
    std::vector<int64_t> slot_expert((size_t)slots);
    std::vector<float> slot_weight((size_t)slots);
    using Entry = std::pair<float, int64_t>;
    const auto first = [](const Entry& a, const Entry& b) {
        return (isnan(a.first) && !isnan(b.first)) || a.first > b.first;
    };
    std::vector<Entry> queue((size_t)E);
    for (int64_t n = 0; n < N; ++n) {
        for (int64_t e = 0; e < E; ++e) queue[e] = {bf16_to_float(float_to_bf16(logits[n * E + e])), e};
        if (top_k * 64 <= E) {
            std::partial_sort(queue.begin(), queue.begin() + top_k, queue.end(), first);
        } else {
            std::nth_element(queue.begin(), queue.begin() + top_k - 1, queue.end(), first);
            std::sort(queue.begin(), queue.begin() + top_k - 1, first);
        }
        const float top = queue[0].first;
        float denom = 0.0f;
        for (int64_t k = 0; k < top_k; ++k) denom += expf(queue[k].first - top);
        for (int64_t k = 0; k < top_k; ++k) {
            slot_expert[n * top_k + k] = queue[k].second;
            slot_weight[n * top_k + k] = expf(queue[k].first - top) / denom;
        }
    }
    // Group the slots by expert (counting sort: stable, so rows keep token order per expert).
    std::vector<int64_t> count((size_t)E, 0), start((size_t)E + 1, 0);
    for (int64_t s = 0; s < slots; ++s) ++count[slot_expert[s]];
    for (int64_t e = 0; e < E; ++e) start[e + 1] = start[e] + count[e];
    std::vector<int64_t> row_of_slot((size_t)slots), group_experts, offsets(1, 0);
    {
        std::vector<int64_t> fill(start.begin(), start.end() - 1);
        for (int64_t s = 0; s < slots; ++s) row_of_slot[s] = fill[slot_expert[s]]++;
    }
    for (int64_t e = 0; e < E; ++e)
        if (count[e]) {
            group_experts.push_back(e);
            offsets.push_back(start[e + 1]);
        }
    const int64_t G = (int64_t)group_experts.size();
    std::vector<uint16_t> rows((size_t)(slots * H));  // [slots, H] bf16, grouped by expert
    for (int64_t s = 0; s < slots; ++s)
        memcpy(rows.data() + row_of_slot[s] * H, t.data() + (s / top_k) * H, (size_t)H * 2);
    // mlp1 -> clamped SwiGLU (float32) -> bf16, as the torch path rounds between the products.
    std::vector<float> h((size_t)(slots * 2 * I));
    rc = gk_mxfp4_grouped(mlp1_blocks, mlp1_scales, mlp1_bias, 2, E, 2 * I, H, group_experts.data(),
                          offsets.data(), G, rows.data(), 2, slots, h.data(), num_threads);
    if (rc != 0) return rc;
    std::vector<uint16_t> act((size_t)(slots * I));
    // Split even at decode (a few rows of I values): otherwise one core computes the expf calls
    // while the other waits, and neither reads weights.
#pragma omp parallel for num_threads(num_threads) if (parallel_slots && slots * I >= 4096)
    for (int64_t r = 0; r < slots; ++r)
        for (int64_t i = 0; i < I; ++i) {
            const float gate = fminf(h[r * 2 * I + 2 * i], swiglu_limit);
            const float lin = fmaxf(fminf(h[r * 2 * I + 2 * i + 1], swiglu_limit), -swiglu_limit);
            const float glu = gate / (1.0f + expf(-kSwigluAlpha * gate));
            act[r * I + i] = float_to_bf16(glu * (lin + 1.0f));
        }
    std::vector<float> y((size_t)(slots * H));
    rc = gk_mxfp4_grouped(mlp2_blocks, mlp2_scales, mlp2_bias, 2, E, H, I, group_experts.data(), offsets.data(),
                          G, act.data(), 2, slots, y.data(), num_threads);
    if (rc != 0) return rc;
    // The router-weighted sum, slots in order.
#pragma omp parallel for num_threads(num_threads) if (parallel)
    for (int64_t n = 0; n < N; ++n) {
        float* un = update + n * H;
        for (int64_t c = 0; c < H; ++c) un[c] = 0.0f;
        for (int64_t k = 0; k < top_k; ++k) {
            const int64_t s = n * top_k + k;
            const float w = slot_weight[s];
            const float* ys = y.data() + row_of_slot[s] * H;
            for (int64_t c = 0; c < H; ++c) un[c] += ys[c] * w;
        }
    }
    return 0;
}

}  // extern "C"
