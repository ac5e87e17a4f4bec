// Shared helpers for tinygrad_norm's kernels. No #include: NVRTC (what cupy.RawModule compiles
// with) has no standard headers, so every file must stand alone with this one. kernels/__init__.py
// inlines this file where a source includes it.

typedef long long i64;

// grid-stride loop over [0, n)
#define GRID_STRIDE(i, n) \
    for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)blockDim.x * gridDim.x)

// Chan et al. merge of (count, mean, M2) summaries, float64.
__device__ __forceinline__ void chan_merge(double& n, double& mean, double& m2,
                                           double nb, double mean_b, double m2_b) {
    if (nb == 0.0) return;
    if (n == 0.0) { n = nb; mean = mean_b; m2 = m2_b; return; }
    double total = n + nb;
    double delta = mean_b - mean;
    mean += delta * (nb / total);
    m2 += m2_b + delta * delta * (n * nb / total);
    n = total;
}
