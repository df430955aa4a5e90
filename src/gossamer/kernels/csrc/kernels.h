// Gossamer CPU kernels: shared declarations.
//
// isa_kernels.cpp is compiled once per instruction set (-DGK_ISA=avx512|avx2|scalar with the
// matching -m flags), so each copy may use its intrinsics freely; dispatch.cpp, compiled for the
// baseline x86-64, picks one copy at run time from cpuid and owns the threading. A "tile" is a
// range of output rows computed by one thread for all N tokens.
#pragma once

#include <stdint.h>
#include <string.h>

#include <type_traits>

// bf16 bits <-> float32. Static, not inline: the translation units are compiled for different
// instruction sets, and the linker must not hand one of them another's copy.
static inline float bf16_to_float(uint16_t bits) {
    const uint32_t u = (uint32_t)bits << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

// Round to nearest even, as torch's .to(torch.bfloat16) does (NaN stays NaN).
static inline uint16_t float_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x40);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

// Multiply-adds below which a call stays on one thread: waking the other costs a fork-join (a few
// microseconds on an idle core, milliseconds on a loaded host where it waits for a time slice).
// 8 M is ~0.1 ms of one core's VNNI products: gossamer-tiny's calls (a few M each) then stay
// serial (its 8-sequence decode step went from 185 to ~40 ms on the shared host under load),
// while every 20b product but the router's (92 k per token) is far above it.
constexpr int64_t kMinParallelWork = 1 << 23;

// Tokens handled together by the row kernels: they share every decoded weight, and ROWS * 4
// accumulators still fit the register file.
constexpr int kTokenGroup = 4;

// Calls body(std::integral_constant<int, NT>{}, n0) for tokens [n0, n0 + NT), NT <= kTokenGroup,
// covering [0, N): the runtime token count becomes a template argument, so the kernels' per-token
// accumulators stay in registers.
template <typename Body>
inline void for_token_groups(int64_t N, Body&& body) {
    for (int64_t n0 = 0; n0 < N; n0 += kTokenGroup) {
        switch (N - n0 >= kTokenGroup ? kTokenGroup : N - n0) {
            case 1: body(std::integral_constant<int, 1>{}, n0); break;
            case 2: body(std::integral_constant<int, 2>{}, n0); break;
            case 3: body(std::integral_constant<int, 3>{}, n0); break;
            default: body(std::integral_constant<int, kTokenGroup>{}, n0); break;
        }
    }
}

// 2**(s - 127) for every E8M0 scale byte s (filled once in dispatch.cpp).
extern "C" float gk_scale_lut[256];

// E2M1 code -> value: codes 8..15 are the negatives of 0..7.
static const float kFp4Values[16] = {0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,  4.0f,  6.0f,
                                     -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

// MXFP4 rows [r0, r1) of one weight matrix times N activation rows.
//   blocks: [R, C/32, 16] codes, scales: [R, C/32], C = 32 * num_blocks
//   xs:     [N, ldx] activations, de-interleaved per 32-block (see deinterleave_blocks)
//   y:      y[n * ldy + r] = sum_c W[r, c] * x[n, c]   (no bias)
typedef void (*Mxfp4TileFn)(const uint8_t* blocks, const uint8_t* scales, int64_t num_blocks,
                            const float* xs, int64_t ldx, int64_t num_tokens, float* y,
                            int64_t ldy, int64_t r0, int64_t r1);

// Dense rows [r0, r1) of W [R, C] (bf16 bits or float32) times N float32 rows x [N, ldx].
typedef void (*Bf16TileFn)(const uint16_t* w, int64_t C, const float* x, int64_t ldx,
                           int64_t num_tokens, float* y, int64_t ldy, int64_t r0, int64_t r1);
typedef void (*F32TileFn)(const float* w, int64_t C, const float* x, int64_t ldx,
                          int64_t num_tokens, float* y, int64_t ldy, int64_t r0, int64_t r1);

// Attention with sinks of one query token for one KV head g (attention.cpp): q [group, D] f32 (the
// query heads reading KV head g), cache k/v [rows, KV, D] (kv_dtype 1 f32 / 2 bf16) with key j at
// cache row rows[j] (j < M, the visible keys in position order), sinks [group] f32 -> out [group, D].
// Every query is computed alone, so its result never depends on what else is in the batch.
typedef void (*AttentionHeadsFn)(const float* q, const void* k, const void* v, int kv_dtype, const int32_t* rows,
                                 int64_t M, int64_t KV, int64_t D, int64_t g, int64_t group, const float* sinks,
                                 float scale, float* out);
#define GK_ATTENTION_HEADS_DECL(name)                                                                        \
    extern "C" void name(const float*, const void*, const void*, int, const int32_t*, int64_t, int64_t, int64_t, \
                         int64_t, int64_t, const float*, float, float*)
GK_ATTENTION_HEADS_DECL(gk_attention_heads_avx512);
GK_ATTENTION_HEADS_DECL(gk_attention_heads_avx2);
GK_ATTENTION_HEADS_DECL(gk_attention_heads_scalar);

// The same over a bf16 KV cache with vdpbf16ps (attention_bf16.cpp), AVX512-BF16 only; q holds bf16 values.
extern "C" bool gk_attention_bf16dp_fits(int64_t H, int64_t KV, int64_t D);
GK_ATTENTION_HEADS_DECL(gk_attention_heads_bf16dp);
// The kernel gk_attention_decode and gk_paged_attention use for these operands (dispatch.cpp).
extern "C" AttentionHeadsFn gk_attention_heads_for(int q_bf16, int kv_dtype, int64_t H, int64_t KV, int64_t D);

// MXFP4 rows times 1..3 bf16 tokens in the pair layout (see dispatch.cpp); false = not done.
extern "C" bool gk_mxfp4_tile_bf16_decode(const uint8_t* blocks, const uint8_t* scales, int64_t num_blocks,
                                          const uint16_t* xp, int64_t ldx, int64_t num_tokens, float* y,
                                          int64_t ldy, int64_t r0, int64_t r1);

struct IsaKernels {
    Mxfp4TileFn mxfp4_tile;
    Bf16TileFn bf16_tile;
    F32TileFn f32_tile;
    AttentionHeadsFn attention_heads;
};

extern "C" IsaKernels gk_kernels_avx512(void);
// MXFP4 rows times bf16 activations (xs de-interleaved like the float32 path), AVX512-BF16 only.
extern "C" void gk_mxfp4_tile_bf16(const uint8_t* blocks, const uint8_t* scales, int64_t num_blocks,
                                   const uint16_t* xs, int64_t ldx, int64_t num_tokens, float* y,
                                   int64_t ldy, int64_t r0, int64_t r1);
// Dense bf16 rows times bf16 tokens (C a multiple of 32), AVX512-BF16 only.
extern "C" void gk_bf16_tile_dp(const uint16_t* w, int64_t C, const uint16_t* x, int64_t ldx, int64_t N, float* y,
                                int64_t ldy, int64_t r0, int64_t r1);
// The same for many tokens, blocked for the caches; identical results (gk_linear's prefill path).
extern "C" void gk_bf16_gemm_dp(const uint16_t* w, int64_t C, const uint16_t* x, int64_t ldx, int64_t N, float* y,
                                int64_t ldy, int64_t r0, int64_t r1);
// MXFP4 rows times int8-quantized tokens, AVX512-VNNI only (isa_avx512vnni.cpp): records of
// kQ8ChunkBytes per chunk of 16 blocks (512 int8 activations, 16 int32 offsets, 16 float scales).
constexpr int64_t kQ8ChunkBytes = 640;
extern "C" int64_t gk_q8_row_bytes(int64_t C);
extern "C" void gk_quantize_q8(const uint16_t* x, int64_t N, int64_t C, uint8_t* out);
extern "C" void gk_mxfp4_tile_q8(const uint8_t* blocks, const uint8_t* scales, int64_t nb, const uint8_t* xq,
                                 int64_t ldq, int64_t N, float* y, int64_t ldy, int64_t r0, int64_t r1);
// Dense bf16 rows times packed bf16 tokens on AMX tiles (isa_amx.cpp, optional in the build: weak,
// null where the compiler could not build it). r0, r1 multiples of 16; C a multiple of 32.
extern "C" int64_t gk_amx_packed_bytes(int64_t N, int64_t C) __attribute__((weak));
extern "C" void gk_amx_pack_tokens(const uint16_t* x, int64_t ldx, int64_t N, int64_t C, uint16_t* packed)
    __attribute__((weak));
extern "C" void gk_bf16_tile_amx(const uint16_t* w, int64_t C, const uint16_t* packed, int64_t N, float* y,
                                 int64_t ldy, int64_t r0, int64_t r1) __attribute__((weak));
extern "C" IsaKernels gk_kernels_avx2(void);
extern "C" IsaKernels gk_kernels_scalar(void);
