// Fused MSE: one pass writes d loss / d pred and accumulates the sum of squared differences.
#include "common.cuh"

// loss_acc: one float64 accumulator (zeroed by the caller); grad_scale: 2/n for 'mean', 2 for 'sum'.
template <typename T>
__device__ void mse_forward_backward(const T* pred, const T* target, T* dpred, double* loss_acc, i64 n,
                                     T grad_scale) {
    __shared__ double warp_sums[32];
    double local = 0.0;
    GRID_STRIDE(i, n) {
        T diff = pred[i] - target[i];
        local += (double)diff * (double)diff;
        dpred[i] = diff * grad_scale;
    }
    // reduce the block's partial sums: shuffles within warps, then the first warp
    for (int off = 16; off > 0; off >>= 1) local += __shfl_down_sync(0xffffffffu, local, off);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) warp_sums[warp] = local;
    __syncthreads();
    if (warp == 0) {
        local = lane < (int)((blockDim.x + 31) / 32) ? warp_sums[lane] : 0.0;
        for (int off = 16; off > 0; off >>= 1) local += __shfl_down_sync(0xffffffffu, local, off);
        if (lane == 0) atomicAdd(loss_acc, local);
    }
}

// reduction='none': the squared differences themselves and 2 * diff.
template <typename T>
__device__ void mse_elementwise(const T* pred, const T* target, T* loss, T* dpred, i64 n) {
    GRID_STRIDE(i, n) {
        T diff = pred[i] - target[i];
        loss[i] = diff * diff;
        dpred[i] = diff * T(2);
    }
}

#define INSTANTIATE(T, S)                                                                                   \
    extern "C" __global__ void mse_forward_backward_##S(const T* p, const T* t, T* dp, double* acc, i64 n,  \
                                                        T scale) {                                          \
        mse_forward_backward<T>(p, t, dp, acc, n, scale);                                                   \
    }                                                                                                       \
    extern "C" __global__ void mse_elementwise_##S(const T* p, const T* t, T* loss, T* dp, i64 n) {         \
        mse_elementwise<T>(p, t, loss, dp, n);                                                              \
    }
INSTANTIATE(float, f32)
INSTANTIATE(double, f64)
