// Exported C entry points: instruction-set choice (cpuid, or forced) and OpenMP threading.
//
// Threads split the output rows (and, for experts, the selected experts) into tiles; every
// tile reads a disjoint slice of the weights, which is what makes decode bandwidth bound.
// OpenMP here links against libgomp.so.1, the same soname torch loads first, so torch and
// these kernels share one thread pool instead of fighting over the cores. Tiles are handed out
// dynamically: when another process takes a core from one thread (a shared machine), the other
// thread keeps working instead of waiting at the barrier with its share unfinished.
#include <cpuid.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "kernels.h"

extern "C" float gk_scale_lut[256];
float gk_scale_lut[256];

namespace {

enum Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2, kAvx512Bf16 = 3, kAvx512Amx = 4 };

// AMX-BF16 and AMX-TILE in cpuid, the tile code compiled (isa_amx.cpp is optional in the build:
// older compilers lack its intrinsics), and the tile state granted to this process by the kernel
// (Linux 5.16+ hands it out per process on request; torch's oneDNN asks the same way).
bool amx_usable() {
    static const bool usable = [] {
        unsigned a, b, c, d;
        if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
        const bool bf16 = (d >> 22) & 1, tile = (d >> 24) & 1;
        if (!bf16 || !tile || gk_bf16_tile_amx == nullptr) return false;
        constexpr long kReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
        return syscall(SYS_arch_prctl, kReqXcompPerm, kXfeatureXtiledata) == 0;
    }();
    return usable;
}

bool cpu_has(int isa) {
    __builtin_cpu_init();
    switch (isa) {
        case kAvx512Amx:
            return cpu_has(kAvx512Bf16) && amx_usable();
        case kAvx512Bf16:
            return cpu_has(kAvx512) && __builtin_cpu_supports("avx512bf16");
        case kAvx512:
            return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                   __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
        case kAvx2:
            return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        default:
            return true;
    }
}

struct State {
    int isa;
    IsaKernels k;
    // int8 activations for the MXFP4 experts (bf16 inputs only; isa_avx512vnni.cpp). Off unless
    // the caller asks: the library itself keeps the exact products by default.
    bool experts_int8 = false;
    const bool has_vnni = cpu_has(kAvx512) && __builtin_cpu_supports("avx512vnni");
    State() {
        for (int s = 0; s < 256; ++s) gk_scale_lut[s] = ldexpf(1.0f, s - 127);
        isa = cpu_has(kAvx512Amx)    ? kAvx512Amx
              : cpu_has(kAvx512Bf16) ? kAvx512Bf16
              : cpu_has(kAvx512)     ? kAvx512
              : cpu_has(kAvx2)       ? kAvx2
                                     : kScalar;
        select(isa);
    }
    void select(int which) {
        isa = which;
        // avx512bf16 runs the AVX-512 kernels plus the bf16 dot-product paths; avx512amx adds the
        // dense bf16 products on AMX tiles.
        k = which >= kAvx512 ? gk_kernels_avx512() : which == kAvx2 ? gk_kernels_avx2() : gk_kernels_scalar();
    }
};

State& state() {
    static State s;
    return s;
}

float load_scalar(const void* p, int dtype, int64_t i) {
    // dtype: 1 = float32, 2 = bf16 bits.
    return dtype == 1 ? ((const float*)p)[i] : bf16_to_float(((const uint16_t*)p)[i]);
}

// y[t * ldy + r] += bias[first + r] for tokens t < n and rows [r0, r1) (bias_dtype 0: no bias).
void add_bias(float* y, int64_t ldy, int64_t n, int64_t r0, int64_t r1, const void* bias, int bias_dtype,
              int64_t first = 0) {
    if (bias_dtype == 0) return;
    for (int64_t t = 0; t < n; ++t)
        for (int64_t r = r0; r < r1; ++r) y[t * ldy + r] += load_scalar(bias, bias_dtype, first + r);
}

// Reorder each 32-value block as [16 even elements, 16 odd elements], matching the order in
// which the kernels unpack low and high nibbles; OUT is float (widening bf16 exactly) or the
// bf16 bits themselves.
template <typename OUT>
void deinterleave_blocks(const void* x, int x_dtype, OUT* xs, int64_t rows, int64_t C) {
    for (int64_t n = 0; n < rows; ++n)
        for (int64_t b = 0; b < C; b += 32)
            for (int j = 0; j < 32; ++j) {
                const int64_t src = n * C + b + j;
                const int64_t dst = n * C + b + (j % 2) * 16 + j / 2;
                if constexpr (sizeof(OUT) == 2)
                    xs[dst] = ((const uint16_t*)x)[src];
                else
                    xs[dst] = load_scalar(x, x_dtype, src);
            }
}

// The bf16 decode kernel's layout: per pair of blocks, the 32 even elements (16 of each block)
// then the 32 odd ones.
void pair_layout(const uint16_t* x, uint16_t* xp, int64_t rows, int64_t C) {
    for (int64_t n = 0; n < rows; ++n)
        for (int64_t b = 0; b < C; b += 64)
            for (int j = 0; j < 64; ++j) {
                const int64_t block = j / 32, elem = j % 32;
                xp[n * C + b + (elem % 2) * 32 + block * 16 + elem / 2] = x[n * C + b + j];
            }
}

// Below this many tokens per expert, decoding straight into float32 FMAs beats decoding a row
// group to bf16 first.
constexpr int64_t kBf16MinTokens = 4;

constexpr int64_t kExpertTileRows = 32;
// Up to this many tokens per expert (the busiest expert of the call) each thread streams long runs
// of rows. Was 3: a 16-sequence decode step on the 20b shape (up to 6-8 tokens on its busiest
// experts) then took 32-row items, and its MoE blocks took 480-510 ms against 416-470 with 16.
constexpr int64_t kStreamingMaxTokens = 16;
constexpr int64_t kDenseTileRows = 64;
// Above this many tokens the dense products block over tokens too (gk_bf16_gemm_dp), 48 at a
// time (48 x 2880 bf16 activations: 276 KB, well inside a core's L2).
constexpr int64_t kDenseStreamingMaxTokens = 16;
constexpr int64_t kDenseTokenBlock = 48;

// gk_linear on AMX tiles (isa_amx.cpp): the tokens packed once, then items of 64 rows for all of
// them. Every token count takes this path, so a token's result never depends on its batch.
int linear_amx(const void* w, const void* bias, int bias_dtype, int64_t R, int64_t C, const void* x, int64_t N,
               float* y, int num_threads) {
    std::vector<uint16_t> packed((size_t)(gk_amx_packed_bytes(N, C) / 2));
    gk_amx_pack_tokens((const uint16_t*)x, C, N, C, packed.data());
    const int64_t num_items = (R + kDenseTileRows - 1) / kDenseTileRows;
#pragma omp parallel for schedule(dynamic, 4) num_threads(num_threads) if (num_threads > 1 && N * R * C >= kMinParallelWork)
    for (int64_t item = 0; item < num_items; ++item) {
        const int64_t r0 = item * kDenseTileRows, r1 = std::min(r0 + kDenseTileRows, R);
        gk_bf16_tile_amx((const uint16_t*)w, C, packed.data(), N, y, R, r0, r1);
        add_bias(y, R, N, r0, r1, bias, bias_dtype);
    }
    return 0;
}

}  // namespace

extern "C" {

int gk_isa_supported(int isa) { return isa >= kScalar && isa <= kAvx512Amx && cpu_has(isa); }
int gk_get_isa(void) { return state().isa; }

// Whether the MXFP4 experts take bf16 activations as int8 now: asked for, the CPU has
// AVX512-VNNI and the AVX-512 kernels are selected.
int gk_experts_int8_active(void) { return state().experts_int8 && state().has_vnni && state().isa >= kAvx512; }

// 1 = int8 activations for the MXFP4 experts where they can run, 0 = exact bf16 products.
// Returns gk_experts_int8_active().
int gk_set_experts_int8(int on) {
    state().experts_int8 = on != 0;
    return gk_experts_int8_active();
}
int gk_set_isa(int isa) {
    if (!gk_isa_supported(isa)) return -1;
    state().select(isa);
    return 0;
}

// Rows of x come grouped by expert: rows [offsets[g], offsets[g + 1]) go through expert
// group_experts[g], and y[row, :] = W[e] @ x[row, :] + bias[e].
//   blocks [E, R, C/32, 16] u8, scales [E, R, C/32] u8, bias [E, R] (dtype 0 none/1 f32/2 bf16)
//   x [num_rows, C] (x_dtype 1 f32/2 bf16), y [num_rows, R] f32
// Returns -1 for impossible shapes, -2 for an expert id out of range, -3 for bad offsets.
int gk_mxfp4_grouped(const uint8_t* blocks, const uint8_t* scales, const void* bias, int bias_dtype,
                     int64_t E, int64_t R, int64_t C, const int64_t* group_experts, const int64_t* offsets,
                     int64_t G, const void* x, int x_dtype, int64_t num_rows, float* y, int num_threads) {
    if (C % 32 != 0 || R <= 0 || G <= 0 || num_rows < 0) return -1;
    if (offsets[0] != 0 || offsets[G] != num_rows) return -3;
    for (int64_t g = 0; g < G; ++g) {
        if (group_experts[g] < 0 || group_experts[g] >= E) return -2;
        if (offsets[g + 1] < offsets[g]) return -3;
    }
    const IsaKernels k = state().k;
    const int64_t nb = C / 32;
    // int8 activations: every group, whatever its token count, so that a token's result does
    // not depend on what else is in the batch.
    const bool q8 = gk_experts_int8_active() && x_dtype == 2;
    const bool parallel = num_threads > 1 && num_rows * R * C >= kMinParallelWork;
    const bool can_bf16 = !q8 && state().isa >= kAvx512Bf16 && x_dtype == 2;
    bool any_bf16 = false, any_f32 = false;
    for (int64_t g = 0; g < G && !q8; ++g) {
        const bool bf16 = can_bf16 && offsets[g + 1] - offsets[g] >= kBf16MinTokens;
        any_bf16 |= bf16;
        any_f32 |= !bf16;
    }
    std::vector<float> xs;
    std::vector<uint16_t> xs_bf16, xs_pairs;
    std::vector<uint8_t> xq;
    const int64_t q8_row_bytes = gk_q8_row_bytes(C);
    if (q8) {
        xq.resize((size_t)(num_rows * q8_row_bytes));
        // Row by row across the threads, decode's few rows included (a serial quantization
        // leaves one core idle while the other is not reading weights either).
#pragma omp parallel for schedule(static) num_threads(num_threads) if (parallel && num_rows > 1)
        for (int64_t r = 0; r < num_rows; ++r)
            gk_quantize_q8((const uint16_t*)x + r * C, 1, C, xq.data() + r * q8_row_bytes);
    }
    // 1..3 bf16 tokens: the bf16 decode kernel (it may decline a tile; then the float32 one runs).
    const bool pairs = can_bf16 && nb % 2 == 0;
    if (pairs) {
        xs_pairs.resize((size_t)(num_rows * C));
        pair_layout((const uint16_t*)x, xs_pairs.data(), num_rows, C);
        any_f32 = true;
    }
    if (any_bf16) {
        xs_bf16.resize((size_t)(num_rows * C));
        deinterleave_blocks(x, x_dtype, xs_bf16.data(), num_rows, C);
    }
    if (any_f32) {
        xs.resize((size_t)(num_rows * C));
        deinterleave_blocks(x, x_dtype, xs.data(), num_rows, C);
    }
    // Decode (a few tokens per expert) streams the weights once: each thread then takes long
    // contiguous runs of rows, since every jump restarts the prefetch stream (a quarter of an
    // expert per item on two threads: +5% read rate over 32-row items, measured on 20b mlp1 and
    // mlp2). Prefill is compute-bound and takes small items to balance the threads.
    int64_t max_tokens = 0;
    for (int64_t g = 0; g < G; ++g) max_tokens = std::max(max_tokens, offsets[g + 1] - offsets[g]);
    const int64_t streaming_rows = ((R + 2 * num_threads - 1) / (2 * num_threads) + 3) / 4 * 4;
    const int64_t tile_rows = max_tokens <= kStreamingMaxTokens ? std::max(kExpertTileRows, streaming_rows)
                                                                : kExpertTileRows;
    const int64_t tiles_per_expert = (R + tile_rows - 1) / tile_rows;
    const int64_t num_items = G * tiles_per_expert;
    // Dynamic: groups hold different token counts (prefill), so items differ in cost.
#pragma omp parallel for schedule(dynamic, 1) num_threads(num_threads) if (parallel)
    for (int64_t item = 0; item < num_items; ++item) {
        const int64_t g = item / tiles_per_expert;
        const int64_t row0 = offsets[g], n = offsets[g + 1] - offsets[g];
        if (n == 0) continue;
        const int64_t r0 = (item % tiles_per_expert) * tile_rows;
        const int64_t r1 = r0 + tile_rows < R ? r0 + tile_rows : R;
        const int64_t e = group_experts[g];
        const uint8_t* eb = blocks + e * R * nb * 16;
        const uint8_t* es = scales + e * R * nb;
        float* yg = y + row0 * R;
        if (q8)
            gk_mxfp4_tile_q8(eb, es, nb, xq.data() + row0 * q8_row_bytes, q8_row_bytes, n, yg, R, r0, r1);
        else if (can_bf16 && n >= kBf16MinTokens)
            gk_mxfp4_tile_bf16(eb, es, nb, xs_bf16.data() + row0 * C, C, n, yg, R, r0, r1);
        else if (!(pairs && n <= 3 &&
                   gk_mxfp4_tile_bf16_decode(eb, es, nb, xs_pairs.data() + row0 * C, C, n, yg, R, r0, r1)))
            k.mxfp4_tile(eb, es, nb, xs.data() + row0 * C, C, n, yg, R, r0, r1);
        add_bias(yg, R, n, r0, r1, bias, bias_dtype, e * R);
    }
    return 0;
}

// y [N, R] f32 = x [N, C] @ w[R, C]^T + bias; w and x dtype 1 = f32, 2 = bf16; bias dtype 0/1/2.
// bf16 x bf16 runs vdpbf16ps where the CPU has it; otherwise x is widened to float32 (exact).
int gk_linear(const void* w, int w_dtype, const void* bias, int bias_dtype, int64_t R, int64_t C,
              const void* x, int x_dtype, int64_t N, float* y, int num_threads) {
    if (R <= 0 || C <= 0 || N <= 0 || (w_dtype != 1 && w_dtype != 2) || (x_dtype != 1 && x_dtype != 2)) return -1;
    const IsaKernels k = state().k;
    const bool dp = state().isa >= kAvx512Bf16 && w_dtype == 2 && x_dtype == 2 && C % 32 == 0;
    if (dp && state().isa == kAvx512Amx && R % 16 == 0)
        return linear_amx(w, bias, bias_dtype, R, C, x, N, y, num_threads);
    std::vector<float> widened;
    const float* xf = (const float*)x;
    if (!dp && x_dtype == 2) {
        widened.resize((size_t)(N * C));
        for (int64_t i = 0; i < N * C; ++i) widened[i] = load_scalar(x, 2, i);
        xf = widened.data();
    }
    // Few tokens (decode): each item streams a tile of rows once for all of them. Many (prefill, a
    // big batch): items also split the tokens, so an item's rows stay in L1 and its tokens in L2,
    // and the blocked kernel takes them. Each output is the same sum in the same order either way.
    const bool many = N > kDenseStreamingMaxTokens;
    const int64_t token_block = many ? kDenseTokenBlock : N;
    const int64_t num_blocks = (N + token_block - 1) / token_block;
    const int64_t num_items = (R + kDenseTileRows - 1) / kDenseTileRows * num_blocks;
#pragma omp parallel for schedule(dynamic, many ? 1 : 4) num_threads(num_threads) \
    if (num_threads > 1 && N * R * C >= kMinParallelWork)
    for (int64_t item = 0; item < num_items; ++item) {
        const int64_t r0 = item / num_blocks * kDenseTileRows;
        const int64_t r1 = r0 + kDenseTileRows < R ? r0 + kDenseTileRows : R;
        const int64_t n0 = item % num_blocks * token_block;
        const int64_t n = std::min(token_block, N - n0);
        float* yb = y + n0 * R;
        if (dp)
            (many ? gk_bf16_gemm_dp : gk_bf16_tile_dp)((const uint16_t*)w, C, (const uint16_t*)x + n0 * C, C, n, yb,
                                                       R, r0, r1);
        else if (w_dtype == 2)
            k.bf16_tile((const uint16_t*)w, C, xf + n0 * C, C, n, yb, R, r0, r1);
        else
            k.f32_tile((const float*)w, C, xf + n0 * C, C, n, yb, R, r0, r1);
        add_bias(yb, R, n, r0, r1, bias, bias_dtype);
    }
    return 0;
}

// Whether gk_attention_decode takes the vdpbf16ps kernel for a bf16 cache of this shape (it
// stays faster than a batched matmul at any context length; the general kernel does not).
int gk_attention_bf16dp_used(int64_t H, int64_t KV, int64_t D) {
    return state().isa >= kAvx512Bf16 && gk_attention_bf16dp_fits(H, KV, D);
}

AttentionHeadsFn gk_attention_heads_for(int q_bf16, int kv_dtype, int64_t H, int64_t KV, int64_t D) {
    // bf16 q and cache on an AVX512-BF16 CPU: the dot-product kernel; otherwise the general one.
    return q_bf16 && kv_dtype == 2 && gk_attention_bf16dp_used(H, KV, D) ? gk_attention_heads_bf16dp
                                                                         : state().k.attention_heads;
}

// Attention with sinks for one query token: q [H, D] f32 (q_bf16: its values are bf16) over the
// visible keys k/v [M, KV, D] (kv_dtype 1 f32 / 2 bf16), sinks [H] f32 -> out [H, D] f32.
// Threads split the KV heads.
int gk_attention_decode(const float* q, int q_bf16, const void* k, const void* v, int kv_dtype, int64_t M,
                        int64_t H, int64_t KV, int64_t D, const float* sinks, float scale, float* out,
                        int num_threads) {
    if (M <= 0 || KV <= 0 || H % KV != 0 || D <= 0 || (kv_dtype != 1 && kv_dtype != 2)) return -1;
    const AttentionHeadsFn heads = gk_attention_heads_for(q_bf16, kv_dtype, H, KV, D);
    std::vector<int32_t> rows((size_t)M);
    for (int64_t j = 0; j < M; ++j) rows[j] = (int32_t)j;
    const int64_t group = H / KV;
#pragma omp parallel for schedule(dynamic, 1) num_threads(num_threads) if (num_threads > 1 && M >= 64)
    for (int64_t g = 0; g < KV; ++g)
        heads(q + g * group * D, k, v, kv_dtype, rows.data(), M, KV, D, g, group, sinks + g * group, scale,
              out + g * group * D);
    return 0;
}

}  // extern "C"
