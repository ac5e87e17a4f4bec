// Per-column statistics of a C-contiguous (rows, d) array in one pass over memory.
//
// Pass 1 (column_*_partial): block (chunk, tile) covers a range of rows and a tile of columns.
// Thread t owns column tile * W + t % W and rows chunk_start + t / W, stepping by R = blockDim / W,
// where W = min(d, blockDim): consecutive threads read consecutive addresses, so loads coalesce for
// d = 8 and d = 4096 alike. Each thread keeps a Welford (count, mean, M2) in float64; the block merges
// its R lanes per column with Chan's formula in shared memory and writes one partial per column.
// Pass 2 (column_*_merge): one thread per column merges the chunks' partials.
#include "common.cuh"

#define MAX_THREADS 256

// Which column and rows this thread of block (chunk, tile) covers.
struct Lanes {
    int W, R, lane_col, lane_row, col;
    i64 r0, r1;
};

__device__ __forceinline__ Lanes lanes_of(i64 rows, int d, i64 rows_per_chunk) {
    Lanes l;
    l.W = d < (int)blockDim.x ? d : (int)blockDim.x;
    l.R = (int)blockDim.x / l.W;
    l.lane_col = threadIdx.x % l.W;
    l.lane_row = threadIdx.x / l.W;
    l.col = blockIdx.y * l.W + l.lane_col;
    l.r0 = (i64)blockIdx.x * rows_per_chunk;
    l.r1 = l.r0 + rows_per_chunk < rows ? l.r0 + rows_per_chunk : rows;
    return l;
}

template <typename T>
__device__ void moments_partial(const T* x, i64 rows, int d, i64 rows_per_chunk, double* part_n,
                                double* part_mean, double* part_m2) {
    __shared__ double s_n[MAX_THREADS], s_mean[MAX_THREADS], s_m2[MAX_THREADS];
    const Lanes l = lanes_of(rows, d, rows_per_chunk);
    const int W = l.W, R = l.R, lane_row = l.lane_row, col = l.col;
    double n = 0.0, mean = 0.0, m2 = 0.0;
    if (lane_row < R && col < d) {
        for (i64 r = l.r0 + lane_row; r < l.r1; r += R) {
            double v = (double)x[r * d + col];
            n += 1.0;
            double delta = v - mean;
            mean += delta / n;
            m2 += delta * (v - mean);
        }
    }
    s_n[threadIdx.x] = n; s_mean[threadIdx.x] = mean; s_m2[threadIdx.x] = m2;
    __syncthreads();
    for (int s = 1; s < R; s <<= 1) {  // tree over the row lanes of each column
        if (lane_row % (2 * s) == 0 && lane_row + s < R) {
            int o = threadIdx.x + s * W;
            double a_n = s_n[threadIdx.x], a_mean = s_mean[threadIdx.x], a_m2 = s_m2[threadIdx.x];
            chan_merge(a_n, a_mean, a_m2, s_n[o], s_mean[o], s_m2[o]);
            s_n[threadIdx.x] = a_n; s_mean[threadIdx.x] = a_mean; s_m2[threadIdx.x] = a_m2;
        }
        __syncthreads();
    }
    if (lane_row == 0 && col < d) {
        i64 k = (i64)blockIdx.x * d + col;
        part_n[k] = s_n[threadIdx.x]; part_mean[k] = s_mean[threadIdx.x]; part_m2[k] = s_m2[threadIdx.x];
    }
}

extern "C" __global__ void column_moments_merge(const double* part_n, const double* part_mean, const double* part_m2,
                                                int chunks, int d, double* out_n, double* out_mean, double* out_m2) {
    GRID_STRIDE(col, d) {
        double n = 0.0, mean = 0.0, m2 = 0.0;
        for (int c = 0; c < chunks; ++c) {
            i64 k = (i64)c * d + col;
            chan_merge(n, mean, m2, part_n[k], part_mean[k], part_m2[k]);
        }
        out_n[col] = n; out_mean[col] = mean; out_m2[col] = m2;
    }
}

// NaN propagates through fmin/fmax only if we ask: a NaN anywhere must make the result NaN so the
// caller can report it, as the CPU backend does.
__device__ __forceinline__ double nan_min(double a, double b) { return (a != a || b != b) ? a + b : (a < b ? a : b); }
__device__ __forceinline__ double nan_max(double a, double b) { return (a != a || b != b) ? a + b : (a > b ? a : b); }

template <typename T>
__device__ void minmax_partial(const T* x, i64 rows, int d, i64 rows_per_chunk, double* part_min, double* part_max) {
    __shared__ double s_min[MAX_THREADS], s_max[MAX_THREADS];
    const Lanes l = lanes_of(rows, d, rows_per_chunk);
    const int W = l.W, R = l.R, lane_row = l.lane_row, col = l.col;
    double lo = 1.0 / 0.0, hi = -1.0 / 0.0;
    if (lane_row < R && col < d) {
        for (i64 r = l.r0 + lane_row; r < l.r1; r += R) {
            double v = (double)x[r * d + col];
            lo = nan_min(lo, v);
            hi = nan_max(hi, v);
        }
    }
    s_min[threadIdx.x] = lo; s_max[threadIdx.x] = hi;
    __syncthreads();
    for (int s = 1; s < R; s <<= 1) {
        if (lane_row % (2 * s) == 0 && lane_row + s < R) {
            int o = threadIdx.x + s * W;
            s_min[threadIdx.x] = nan_min(s_min[threadIdx.x], s_min[o]);
            s_max[threadIdx.x] = nan_max(s_max[threadIdx.x], s_max[o]);
        }
        __syncthreads();
    }
    if (lane_row == 0 && col < d) {
        i64 k = (i64)blockIdx.x * d + col;
        part_min[k] = s_min[threadIdx.x]; part_max[k] = s_max[threadIdx.x];
    }
}

extern "C" __global__ void column_minmax_merge(const double* part_min, const double* part_max, int chunks, int d,
                                               double* out_min, double* out_max) {
    GRID_STRIDE(col, d) {
        double lo = 1.0 / 0.0, hi = -1.0 / 0.0;
        for (int c = 0; c < chunks; ++c) {
            lo = nan_min(lo, part_min[(i64)c * d + col]);
            hi = nan_max(hi, part_max[(i64)c * d + col]);
        }
        out_min[col] = lo; out_max[col] = hi;
    }
}

#define INSTANTIATE(T, S)                                                                                 \
    extern "C" __global__ void column_moments_partial_##S(const T* x, i64 rows, int d, i64 rows_per_chunk, \
                                                          double* pn, double* pmean, double* pm2) {       \
        moments_partial<T>(x, rows, d, rows_per_chunk, pn, pmean, pm2);                                   \
    }                                                                                                     \
    extern "C" __global__ void column_minmax_partial_##S(const T* x, i64 rows, int d, i64 rows_per_chunk,  \
                                                         double* pmin, double* pmax) {                    \
        minmax_partial<T>(x, rows, d, rows_per_chunk, pmin, pmax);                                        \
    }
INSTANTIATE(float, f32)
INSTANTIATE(double, f64)
