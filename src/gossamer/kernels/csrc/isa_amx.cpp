// Dense bf16 rows times bf16 tokens on AMX tiles (tdpbf16ps), the "avx512amx" instruction set.
//
// Why: at 16 tokens a step the dense products (attention projections, unembedding) are bound by
// vdpbf16ps arithmetic, at about a tenth of what the tile unit offers; on AMX CPUs one tdpbf16ps
// does 16 x 16 x 32 multiply-adds.
//
// The weights are the A operand, read in place: a tile is 16 rows x 32 columns of W, each row's 64
// bytes loaded at the row stride, so nothing is repacked or copied. The tokens are B, packed per
// call (small) into the pair layout tdpbf16ps wants: for each 32-column step, 16 rows of column
// pairs, each row holding the pair for 16 tokens (zero past the last token). A result element
// (row r, token n) is the same chain of tdpbf16ps steps over the columns in order whatever the
// number of tokens and rows around it, so a token's outputs never depend on its batch.
//
// Compiled with -mamx-tile -mamx-bf16; dispatch.cpp calls it only after the kernel has granted
// this process the tile state (arch_prctl) and cpuid reports AMX-BF16.
#include <immintrin.h>
#include <string.h>

#include "kernels.h"

namespace {

constexpr int kTile = 16;      // rows of a weight tile, tokens of a token tile
constexpr int kStep = 32;      // columns per tdpbf16ps
constexpr int kTileBytes = 1024;
constexpr int kAhead = 4;      // steps between an L1 prefetch and the tile load that needs it

struct TileConfig {
    uint8_t palette, start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
};

// Tile numbers are literals throughout: GCC's tile intrinsics paste them into the instruction.
// Tiles 0-3: float32 results (16 rows x 16 tokens); 4: tokens; 5, 6: weights. Loaded on every
// call: other code on this thread (oneDNN inside torch) may have loaded another configuration.
void configure_tiles() {
    TileConfig c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int t = 0; t < 7; ++t) {
        c.rows[t] = kTile;
        c.colsb[t] = 64;
    }
    _tile_loadconfig(&c);
}

// Tokens [n0, n0 + count) of x [.., ldx] -> out [C / 32][16 pairs][16 tokens][2] bf16.
void pack_tokens(const uint16_t* x, int64_t ldx, int64_t C, int64_t count, uint16_t* out) {
    memset(out, 0, (size_t)(C / kStep * kTileBytes));
    for (int64_t n = 0; n < count; ++n)
        for (int64_t c = 0; c < C; c += 2) {
            const int64_t step = c / kStep, pair = (c % kStep) / 2;
            uint16_t* dst = out + step * (kTileBytes / 2) + pair * 2 * kTile + n * 2;
            dst[0] = x[n * ldx + c];
            dst[1] = x[n * ldx + c + 1];
        }
}

// One step's products for row groups 0 and (NR == 2) 1 into result tiles CA and CB.
#define GK_AMX_STEP(CA, CB, step)                                              \
    do {                                                                       \
        _tile_loadd(4, packed + (step) * (kTileBytes / 2), 64);                \
        _tile_loadd(5, rows + (step) * kStep, C * 2);                          \
        _tile_dpbf16ps(CA, 5, 4);                                              \
        if constexpr (NR > 1) {                                                \
            _tile_loadd(6, rows + kTile * C + (step) * kStep, C * 2);          \
            _tile_dpbf16ps(CB, 6, 4);                                          \
        }                                                                      \
    } while (0)

// Rows [r, r + 16 * NR) times one packed token tile -> y[n * ldy + row] for n < count, NR 1 or 2.
//
// Each result is two float32 chains, the even steps and the odd ones, added at the end: half the
// chain length of one accumulator (a 2,880-term chain erred 1.6x as much as vdpbf16ps's sixteen
// lanes; two bring it to about vdpbf16ps's) and two independent tdpbf16ps chains in flight.
// Tiles: 0 and 1 (row group 0, even and odd steps), 2 and 3 (row group 1), 4 tokens, 5 and 6 rows.
//
// PREFETCH (the first token tile, which reads the rows from memory) pulls each row's next lines
// kAhead steps before their tile load, into L1, or into L2 where the row stride is a multiple of
// 1 KB (the rows' lines of one step then share a few of L1's 64 sets, 12 ways, and would evict
// each other). The rows are 16 * NR strided streams that the hardware prefetchers do not follow.
// Measured on the 20b shapes, one token, two threads, against the vdpbf16ps kernel: unembedding
// (201,088 x 2,880) 40 ms against 45; 24 qkv (5,120 x 2,880) 25 against 26; 24 out (2,880 x
// 4,096) 22 against 24. kAhead 2 and 8 were slower; one row group streams faster than four.
template <int NR>
void rows_times_tokens(const uint16_t* w, int64_t C, const uint16_t* packed, int64_t count, float* y, int64_t ldy,
                       int64_t r, bool prefetch) {
    const int64_t steps = C / kStep;
    const uint16_t* rows = w + r * C;
    const bool l1 = (C * 2) % 1024 != 0;
    const auto fetch = [&](int64_t step) {
        if (!prefetch) return;
        // kAhead steps on; past the last step, the next row group's first steps.
        const int64_t ahead = step + kAhead;
        const uint16_t* p = ahead < steps ? rows + ahead * kStep : rows + NR * kTile * C + (ahead - steps) * kStep;
        if (l1)
            for (int i = 0; i < NR * kTile; ++i) _mm_prefetch((const char*)(p + i * C), _MM_HINT_T0);
        else
            for (int i = 0; i < NR * kTile; ++i) _mm_prefetch((const char*)(p + i * C), _MM_HINT_T1);
    };
    _tile_zero(0);
    _tile_zero(1);
    if constexpr (NR > 1) {
        _tile_zero(2);
        _tile_zero(3);
    }
    int64_t s = 0;
    for (; s + 1 < steps; s += 2) {
        fetch(s);
        GK_AMX_STEP(0, 2, s);
        fetch(s + 1);
        GK_AMX_STEP(1, 3, s + 1);
    }
    if (s < steps) {
        fetch(s);
        GK_AMX_STEP(0, 2, s);
    }
    alignas(64) float out[2 * NR][kTile][kTile];  // [result tile][row][token]
    _tile_stored(0, out[0], 64);
    _tile_stored(1, out[1], 64);
    if constexpr (NR > 1) {
        _tile_stored(2, out[2], 64);
        _tile_stored(3, out[3], 64);
    }
    for (int64_t n = 0; n < count; ++n)
        for (int i = 0; i < NR; ++i)
            for (int m = 0; m < kTile; ++m) y[n * ldy + r + i * kTile + m] = out[2 * i][m][n] + out[2 * i + 1][m][n];
}

#undef GK_AMX_STEP

}  // namespace

// Bytes of packed tokens gk_bf16_tile_amx takes for N tokens of C columns.
extern "C" int64_t gk_amx_packed_bytes(int64_t N, int64_t C) {
    return (N + kTile - 1) / kTile * (C / kStep) * kTileBytes;
}

// x [N, ldx] bf16 -> the packed token tiles, 16 tokens each (the last zero-padded).
extern "C" void gk_amx_pack_tokens(const uint16_t* x, int64_t ldx, int64_t N, int64_t C, uint16_t* packed) {
    for (int64_t n0 = 0; n0 < N; n0 += kTile)
        pack_tokens(x + n0 * ldx, ldx, C, N - n0 < kTile ? N - n0 : kTile,
                    packed + n0 / kTile * (C / kStep) * (kTileBytes / 2));
}

// Dense rows [r0, r1) of bf16 W [R, C] times N packed tokens: y[n * ldy + r] = sum_c W[r, c] x[n, c].
// C a multiple of 32, r0 and r1 multiples of 16.
extern "C" void gk_bf16_tile_amx(const uint16_t* w, int64_t C, const uint16_t* packed, int64_t N, float* y,
                                 int64_t ldy, int64_t r0, int64_t r1) {
    configure_tiles();
    const int64_t tile_elems = (C / kStep) * (kTileBytes / 2);
    // The first token tile streams a row group from memory (prefetched); the others reuse it from L2.
    // One token tile (decode): one row group at a time streams fastest. More: two row groups
    // share each token tile load. The same chains either way.
    for (int64_t r = r0; r < r1;) {
        const int nr = N > kTile && r1 - r >= 2 * kTile ? 2 : 1;
        for (int64_t n0 = 0; n0 < N; n0 += kTile) {
            const uint16_t* p = packed + n0 / kTile * tile_elems;
            const int64_t count = N - n0 < kTile ? N - n0 : kTile;
            if (nr == 2)
                rows_times_tokens<2>(w, C, p, count, y + n0 * ldy, ldy, r, n0 == 0);
            else
                rows_times_tokens<1>(w, C, p, count, y + n0 * ldy, ldy, r, n0 == 0);
        }
        r += nr * kTile;
    }
    _tile_release();
}
